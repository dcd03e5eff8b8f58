"""`cxj run` and `cxj demo`: the standalone commands."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("cxj.run")


def _summary_table(summaries: list[dict[str, Any]]) -> str:
    from cxj_standalone.view import render_view

    return render_view(summaries, title="final summary", color=sys.stdout.isatty())


async def _run_standalone(standalone: Any, *, demo: Any = None) -> list[dict[str, Any]]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = []
    if demo is not None:
        tasks.append(asyncio.create_task(demo(stop)))
    try:
        return list(await standalone.run(stop))
    finally:
        stop.set()
        for task in tasks:
            await task


def _write_report(standalone: Any, path: Path | None) -> None:
    if path is None:
        return
    from cxj_standalone.reporting import write_report

    write_report(standalone, path)
    print(f"\nreport: {path.resolve()}")


def _run(args: argparse.Namespace) -> int:
    from cxj_journey.documents import UnreadableInput
    from cxj_journey.model import JourneyInvalid
    from cxj_probe.cli import env_secrets, load_journeys
    from cxj_probe.steps.registry import EXECUTORS
    from cxj_standalone.run import RunOptions, Standalone

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        journeys = load_journeys(args.journeys)
    except UnreadableInput as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except JourneyInvalid as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    options = RunOptions(
        otlp_endpoint=args.otlp_endpoint or _otlp_from_env(),
        status_listen=args.status_listen,
        report=Path(args.report) if args.report else None,
        duration_s=args.duration,
        live_view=not args.no_live,
        title="cxj run: journey experience",
    )
    standalone = Standalone(journeys, options, env_secrets(os.environ), EXECUTORS)
    summaries = asyncio.run(_run_standalone(standalone))
    print(_summary_table(summaries))
    _write_report(standalone, options.report)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from cxj_probe.steps.registry import EXECUTORS
    from cxj_standalone.demo import (
        SCENARIOS,
        Phase,
        demo_journeys,
        demo_secrets,
        free_stack_ports,
        play,
    )
    from cxj_standalone.events import EventLog, follow
    from cxj_standalone.receiver import IncidentReceiver
    from cxj_standalone.run import RunOptions, Standalone
    from cxj_standalone.stack import ContactCenterStack, StackPorts

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    scenario = SCENARIOS[args.scenario]
    report = Path(args.report)
    events = EventLog(Path(args.events)) if args.events else None

    def emit(kind: str, **fields: Any) -> None:
        if events is not None:
            events.write(kind, **fields)

    async def main() -> tuple[Standalone, list[dict[str, Any]], IncidentReceiver]:
        receiver = IncidentReceiver().start()
        ports = free_stack_ports() if args.free_ports else StackPorts()
        stack = ContactCenterStack(ports)
        print("starting the simulated contact center on 127.0.0.1 …", flush=True)
        await stack.start()
        print(stack.describe(), flush=True)
        journeys = demo_journeys(receiver.url, ports.replacements())
        options = RunOptions(
            status_listen=args.status_listen,
            report=report,
            duration_s=args.duration,
            time_scale=args.time_scale,
            title=f"cxj demo: {args.scenario} (time compressed {args.time_scale:g}×)",
        )
        standalone = Standalone(journeys, options, demo_secrets, EXECUTORS)
        if events is not None:
            follow(events, standalone)

        def phase(entered: Phase) -> None:
            standalone.recorded.notes.append((time.time(), entered.note))
            emit("phase", action=entered.action, note=entered.note)
            if not sys.stdout.isatty():
                print(f"» {entered.note}", flush=True)

        try:

            async def story(stop: asyncio.Event) -> None:
                await standalone.started.wait()
                emit(
                    "start",
                    scenario=args.scenario,
                    durationS=args.duration,
                    timeScale=args.time_scale,
                    statusUrl=f"http://{args.status_listen}/",
                    stackPorts=dataclasses.asdict(ports),
                    sipEndpoint=stack.sip.status,
                )
                await play(stack, scenario, args.duration, phase, stop)

            summaries = await _run_standalone(standalone, demo=story)
        finally:
            await stack.stop()
            receiver.stop()
        return standalone, summaries, receiver

    try:
        standalone, summaries, receiver = asyncio.run(main())
        _demo_epilogue(standalone, summaries, receiver, report)
        emit("report", path=str(report.resolve()))
    finally:
        if events is not None:
            events.close()
    return 0


def _demo_epilogue(
    standalone: Any, summaries: list[dict[str, Any]], receiver: Any, report: Path
) -> None:
    print(_summary_table(summaries))
    print(f"\nincidents delivered to the demo receiver: {len(receiver.received)}")
    for line in receiver.lines()[-8:]:
        print(f"  {line}")
    _write_report(standalone, report)
    print(
        "\nnext: open the report in a browser; run `cxj run crds/examples/minimal.yaml` "
        "against your own agent desktop; see docs/ for the telemetry contract and formulas."
    )


def _otlp_from_env() -> str:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return endpoint.removeprefix("http://").removeprefix("https://")


def add_standalone_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj run` and `cxj demo`."""
    run = sub.add_parser(
        "run",
        help="run journeys and the processor in one process, with a live view",
        description="Run the CxJourney files' journeys and the processor in one process, "
        "without Kubernetes: a live terminal view, OTLP export when an endpoint is set "
        "(--otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT), and an HTML report at the end. "
        "Ctrl-C ends cleanly with a summary.",
    )
    run.add_argument("journeys", nargs="+", metavar="JOURNEYS.yaml")
    run.add_argument("--report", metavar="PATH", help="write an HTML report here at the end")
    run.add_argument(
        "--otlp-endpoint",
        metavar="HOST:PORT",
        help="OTLP/gRPC backend for probe telemetry and derived metrics",
    )
    run.add_argument(
        "--status-listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="status API and overview page (default 127.0.0.1:8080)",
    )
    run.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    run.add_argument("--no-live", action="store_true", help="no live view (log lines only)")
    run.set_defaults(run=_run)

    demo = sub.add_parser(
        "demo",
        help="the whole story on one machine: a simulated contact center with faults",
        description="Start a simulated contact center on loopback (agent desktop, chat with a "
        "bot and human handoff, a STAMP reflector on the voice path, a SIP endpoint), run the "
        "four example journeys against it and play a scenario: healthy, then a voice path "
        "with jitter and loss while HTTP stays fast, then a slow agent desktop. Writes an "
        "HTML report.",
    )
    demo.add_argument(
        "--duration",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="length of the scenario (default 120)",
    )
    demo.add_argument(
        "--scenario",
        choices=sorted(SCENARIO_NAMES),
        default="green-network",
        help="green-network: the whole story (default); voice: the voice fault alone",
    )
    demo.add_argument(
        "--time-scale",
        type=float,
        default=60.0,
        help="SLO time per real second (default 60: a second counts as a minute)",
    )
    demo.add_argument(
        "--report",
        default="cxj-demo-report.html",
        metavar="PATH",
        help="where to write the HTML report at the end (default cxj-demo-report.html)",
    )
    demo.add_argument(
        "--status-listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="status API and live overview page (default 127.0.0.1:8080)",
    )
    demo.add_argument(
        "--free-ports",
        action="store_true",
        help="run the simulated contact center on free ports instead of the examples' ports "
        "(when those are taken, or beside another demo)",
    )
    demo.add_argument(
        "--events",
        metavar="PATH",
        help="also write the story as JSON lines here: phases, runs with their steps, "
        "evaluations, alerts and the report's path (see docs/demo-stack.md)",
    )
    demo.set_defaults(run=_demo)


SCENARIO_NAMES = ("green-network", "voice")
