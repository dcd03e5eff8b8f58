"""`cxj probe`: run journeys from files on their schedules and export their telemetry."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping

from cxj_journey.documents import UnreadableInput, read_documents
from cxj_journey.model import Journey, JourneyInvalid, SecretRef, parse_journey, secret_env_name
from cxj_probe.contract import resource_attributes
from cxj_probe.otel import Telemetry, build_telemetry, otlp_exporters
from cxj_probe.runner import Executor, JourneyRunner, RunResult, Schedule
from cxj_probe.steps.base import StepFailure

log = logging.getLogger("cxj.probe")


def env_secrets(environ: Mapping[str, str]) -> Callable[[str, str], str]:
    """Returns a resolver reading Secret keys from the variables the operator sets."""

    def resolve(name: str, key: str) -> str:
        variable = secret_env_name(SecretRef(name, key))
        if variable not in environ:
            raise StepFailure("secret", f"Secret {name}/{key} is not available: set {variable}")
        return environ[variable]

    return resolve


def load_journeys(paths: list[str]) -> list[Journey]:
    """Returns every CxJourney in the files.

    Raises:
        UnreadableInput: when a file cannot be read.
        JourneyInvalid: when a document is not a valid CxJourney.
    """
    journeys = []
    for path in paths:
        for document in read_documents(path):
            try:
                journeys.append(parse_journey(document.body))
            except JourneyInvalid as error:
                raise JourneyInvalid(
                    [type(p)(f"{document.label}: {p.path}", p.message) for p in error.problems]
                ) from error
    return journeys


def summary_line(journey: Journey, location: str, result: RunResult) -> str:
    """One line per run for the probe's log."""
    line = (
        f"{journey.namespace}/{journey.name} @{location}: {result.outcome} in "
        f"{result.duration_s * 1000:.0f} ms trace={result.trace_id}"
    )
    if result.failed_step is not None:
        _, outcome = result.steps[-1]
        line += f" failed at {result.failed_step}: {outcome.error_type}: {outcome.error_message}"
    return line


async def run_probe(
    journeys: list[Journey],
    location: str | None,
    *,
    once: bool,
    executors: Mapping[str, Executor],
    telemetry_for: Callable[[Journey, str], Telemetry],
    secrets: Callable[[str, str], str],
    stop: asyncio.Event,
    on_result: Callable[[RunResult, Journey], None] | None = None,
) -> list[RunResult]:
    """Runs every journey on its schedule until stop is set (or once each)."""
    results: list[RunResult] = []
    schedules = []
    telemetries = []
    for journey in journeys:
        site = location or journey.locations[0].name
        telemetry = telemetry_for(journey, site)
        telemetries.append(telemetry)
        runner = JourneyRunner(
            journey,
            site,
            tracer=telemetry.tracer,
            meter=telemetry.meter,
            executors=executors,
            secrets=secrets,
        )

        def report(result: RunResult, journey: Journey = journey, site: str = site) -> None:
            results.append(result)
            log.info("%s", summary_line(journey, site, result))
            if on_result is not None:
                on_result(result, journey)

        schedules.append(Schedule(runner, journey.interval_s, report))
    try:
        await asyncio.gather(*(s.run(stop, once=once) for s in schedules))
    finally:
        for telemetry in telemetries:
            telemetry.shutdown()
    return results


async def serve_health(listen: str) -> asyncio.Server:
    """Answers /healthz and /readyz with 200 while the probe's event loop runs."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            path = request.split(b" ")[1] if request.count(b" ") >= 2 else b""
            ok = path in (b"/healthz", b"/readyz")
            body = b"ok\n" if ok else b"not found\n"
            status = b"200 OK" if ok else b"404 Not Found"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    host, _, port = listen.rpartition(":")
    return await asyncio.start_server(answer, host or "0.0.0.0", int(port))


def _run(args: argparse.Namespace) -> int:
    from cxj_probe.steps.registry import EXECUTORS

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        journeys = load_journeys(args.journey)
    except UnreadableInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except JourneyInvalid as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    location = args.location or os.environ.get("CXJ_LOCATION")

    def telemetry_for(journey: Journey, site: str) -> Telemetry:
        extra = next((loc.attributes for loc in journey.locations if loc.name == site), {})
        span_exporter, metric_reader = otlp_exporters()
        return build_telemetry(
            resource_attributes(journey, site, extra),
            span_exporter=span_exporter,
            metric_reader=metric_reader,
        )

    async def main() -> list[RunResult]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if args.health_listen:
            await serve_health(args.health_listen)
        return await run_probe(
            journeys,
            location,
            once=args.once,
            executors=EXECUTORS,
            telemetry_for=telemetry_for,
            secrets=env_secrets(os.environ),
            stop=stop,
        )

    results = asyncio.run(main())
    if args.once:
        return 0 if all(r.outcome != "failure" for r in results) else 1
    return 0


def add_probe_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj probe`."""
    probe = sub.add_parser(
        "probe",
        help="run journeys on their schedules and export OpenTelemetry",
        description="Run every CxJourney in the files every interval and export traces and "
        "metrics over OTLP (configured by the standard OTEL_* variables). SIGTERM flushes "
        "telemetry and exits. With --once, each journey runs once and the exit code is 1 "
        "when any run failed.",
    )
    probe.add_argument(
        "--journey",
        action="append",
        required=True,
        metavar="FILE",
        help="a YAML/JSON file of CxJourney documents (repeatable)",
    )
    probe.add_argument(
        "--location",
        help="the location to report as (default: "
        "$CXJ_LOCATION, else each journey's first location)",
    )
    probe.add_argument("--once", action="store_true", help="run each journey once and exit")
    probe.add_argument(
        "--health-listen",
        metavar="HOST:PORT",
        help="serve /healthz and /readyz here (for Kubernetes probes)",
    )
    probe.set_defaults(run=_run)
