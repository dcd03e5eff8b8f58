"""http steps per second with full phase timing, against a bare h11 client on the same target.

The target is a minimal asyncio HTTP server in its own process (pinned to another core
where the machine allows), so its CPU does not count against the probe's. Both clients
open a fresh connection per request, 32 requests in flight, on one event loop pinned to
one core. The baseline has no phase bookkeeping, attributes or checks, so the ratio is
the cost of timing. If blackbox_exporter is installed, the median phase timings of both
are printed side by side for the same target.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import h11

from cxj_journey.model import HttpStep, Step
from cxj_probe.steps.base import StepContext
from cxj_probe.steps.http import USER_AGENT, run_http

CONCURRENCY = 32
SECONDS = 3.0
BODY = b'{"agents": [{"state": "ready"}]}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\nConnection: close\r\n\r\n" + BODY
)
BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
PHASES = {"resolve": "dns", "connect": "connect", "processing": "ttfb", "transfer": "transfer"}


class _Responder(asyncio.Protocol):
    """Answers the first request on a connection with a fixed response, then closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" in self.buffer:
            self.transport.write(RESPONSE)
            self.transport.close()


def _serve(ports: Any, cpu: int | None) -> None:
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            _Responder, "127.0.0.1", 0, backlog=1024
        )
        ports.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _probe_step(url: str) -> tuple[Step, StepContext]:
    action = HttpStep(url, "GET", (), None, True, 10, False, ())
    step = Step("bench", "http", "platform", 10.0, None, (), action)
    context = StepContext(
        variables={},
        secrets=lambda name, key: "",
        trace_headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        timeout_s=10.0,
    )
    return step, context


async def _bare_h11(port: int) -> bool:
    """The baseline: one request over a fresh connection, no timing, no checks."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        connection = h11.Connection(h11.CLIENT)
        headers = [
            ("Host", f"127.0.0.1:{port}"),
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Connection", "close"),
        ]
        writer.write(
            connection.send(h11.Request(method="GET", target="/", headers=headers))
            + connection.send(h11.EndOfMessage())
        )
        status = 0
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.EndOfMessage):
                return status == 200
    finally:
        writer.close()


async def _rate(request: Callable[[], Awaitable[bool]], seconds: float) -> tuple[float, float, int]:
    """Requests per second, CPU microseconds per request, and failures."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    done = failed = 0

    async def worker() -> None:
        nonlocal done, failed
        while loop.time() < deadline:
            ok = await request()
            done += 1
            failed += not ok

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return done / wall, cpu / done * 1e6, failed


async def _throughput(port: int) -> None:
    step, context = _probe_step(f"http://127.0.0.1:{port}/")

    async def probe() -> bool:
        return (await run_http(step, context)).ok

    async def bare() -> bool:
        return await _bare_h11(port)

    await _rate(probe, 0.5)  # warm-up
    await _rate(bare, 0.5)
    results: dict[str, list[tuple[float, float, int]]] = {"bare h11": [], "run_http": []}
    for _ in range(2):
        results["bare h11"].append(await _rate(bare, SECONDS))
        results["run_http"].append(await _rate(probe, SECONDS))
    rates = {}
    for name, rounds in results.items():
        rates[name] = statistics.mean(r[0] for r in rounds)
        cpu = statistics.mean(r[1] for r in rounds)
        failed = sum(r[2] for r in rounds)
        print(
            f"{name:<10} {rates[name]:8.0f} requests/s  {cpu:6.0f} µs CPU/request  "
            f"({failed} failed, concurrency {CONCURRENCY}, one core)"
        )
    print(f"ratio (run_http / bare h11): {rates['run_http'] / rates['bare h11']:.2f}")


def _blackbox_phases(base: str, url: str) -> dict[str, float]:
    query = urllib.parse.urlencode({"target": url, "module": "http_plain"})
    with urllib.request.urlopen(f"{base}/probe?{query}", timeout=10) as reply:
        text = reply.read().decode()
    return {
        line.split('"')[1]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith('probe_http_duration_seconds{phase="')
    }


async def _versus_blackbox(port: int, rounds: int = 41) -> None:
    if not Path(BLACKBOX).exists():
        print("blackbox_exporter not installed: timing comparison skipped")
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        bb_port = sock.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="cxj-bench-"))
    (folder / "bb.yml").write_text(
        "modules:\n  http_plain:\n    prober: http\n    http:\n"
        "      preferred_ip_protocol: ip4\n      ip_protocol_fallback: false\n"
    )
    argv = [BLACKBOX, f"--config.file={folder / 'bb.yml'}"]
    argv.append(f"--web.listen-address=127.0.0.1:{bb_port}")
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base, url = f"http://127.0.0.1:{bb_port}", f"http://localhost:{port}/"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", bb_port)):
                break
            await asyncio.sleep(0.05)
        step, context = _probe_step(url)
        ours: dict[str, list[float]] = {name: [] for name in PHASES}
        theirs: dict[str, list[float]] = {name: [] for name in PHASES}
        for _ in range(rounds):
            outcome = await run_http(step, context)
            measured = await asyncio.to_thread(_blackbox_phases, base, url)
            durations = {p.name: (p.end_ns - p.start_ns) / 1e9 for p in outcome.phases}
            for their_phase, our_phase in PHASES.items():
                ours[their_phase].append(durations.get(our_phase, 0.0))
                theirs[their_phase].append(measured.get(their_phase, 0.0))
        print(f"median phases over {rounds} sequential requests to {url} (ms):")
        for phase, our_phase in PHASES.items():
            mine, bb = statistics.median(ours[phase]) * 1e3, statistics.median(theirs[phase]) * 1e3
            print(
                f"  {our_phase:<8} ours {mine:7.3f}  blackbox {phase:<10} {bb:7.3f}  "
                f"difference {mine - bb:+7.3f}"
            )
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    probe_cpu, server_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    spawn = multiprocessing.get_context("spawn")
    ports = spawn.Queue()
    server = spawn.Process(target=_serve, args=(ports, server_cpu), daemon=True)
    server.start()
    previous = os.sched_getaffinity(0) if probe_cpu is not None else None
    try:
        port = ports.get(timeout=30)
        if probe_cpu is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {probe_cpu})
        asyncio.run(_throughput(port))
        asyncio.run(_versus_blackbox(port))
    finally:
        if previous is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, previous)
        server.terminate()
        server.join(10)


if __name__ == "__main__":
    main()
