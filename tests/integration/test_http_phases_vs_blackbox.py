"""The http step's phase timings agree with Prometheus blackbox_exporter's on the same target.

Both probe one target (a separate process that waits 50 ms before the response head and
30 ms in the middle of the body; over TLS also 30 ms before it answers the ClientHello), each
from a process of its own, interleaved and paced, 31 times each; the medians of each pair of
phases that mean the same thing must agree within max(1 ms, 5 %).

Why the TLS target delays its handshake: on loopback a handshake is nothing but the two
ends' CPU, so without a delay the tls phases compare TLS implementations rather than
timing. Here Python's client (OpenSSL 3.0) spends about 1 ms more of CPU on a handshake than
blackbox_exporter's Go client (mostly in decoding the server's certificate key), and that
gap sits on the 1 ms line. With the delay the phase is what it is against a server 30 ms
away, the comparison has the same footing as the processing and transfer phases (which the
injected delays make tens of milliseconds long), and a probe that timed the wrong span
(missing the wait, or counting the connect) would still be off by far more than the bound.

Mapping (blackbox_exporter's probe_http_duration_seconds{phase} → our phase):
  resolve → dns (ours is absent for an IP literal: 0), connect → connect, tls → tls,
  processing (connection ready → first response byte) → ttfb, transfer → transfer.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Iterator

import pytest
from tests.harness.processes import REPO, Process, free_port, logs_dir, port_open
from tests.harness.step_targets import issue_certificates

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
HEADER_DELAY_S, BODY_DELAY_S, HANDSHAKE_DELAY_S = 0.05, 0.03, 0.03
ROUNDS = 31
PACE_S = 0.1  # between probes, see _compare
# blackbox_exporter phase → cxjourney phase
PHASES = {
    "resolve": "dns",
    "connect": "connect",
    "tls": "tls",
    "processing": "ttfb",
    "transfer": "transfer",
}
CONFIG = """\
modules:
  http_plain:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  https_insecure:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls_config:
        insecure_skip_verify: true
"""


class _SameSessionProcess(Process):
    """A server process in its own process group but in the test's session.

    Linux schedules each session as one group (autogroup) with an equal share of the CPU.
    In a session of its own, the exporter would get a share the test process (which runs
    the probe) does not, and on a busy machine the comparison would measure the
    scheduler; in one session all three compete on the same terms.
    """

    def start(self) -> _SameSessionProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(self.env or {})},
                process_group=0,  # stop() signals the group
            )
        return self


def _start(name: str, argv: list[str], port: int) -> Process:
    process = _SameSessionProcess(name, argv, logs_dir(), env={"PYTHONPATH": str(REPO)})
    process.start()
    try:
        process.wait_until(lambda: port_open(port), 30, "listening")
    except Exception:
        process.stop()
        raise
    return process


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = tmp_path_factory.mktemp("blackbox") / "blackbox.yml"
    config.write_text(CONFIG)
    port = free_port()
    process = _start(
        "blackbox-exporter",
        [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        port,
    )
    yield f"http://127.0.0.1:{port}"
    process.stop()


def _target(name: str, extra: list[str]) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.harness.step_targets", "--port", str(port)]
    argv += ["--header-delay", str(HEADER_DELAY_S), "--body-delay", str(BODY_DELAY_S)]
    process = _start(name, argv + extra, port)
    yield port
    process.stop()


@pytest.fixture(scope="module")
def plain_port() -> Iterator[int]:
    yield from _target("phase-target-plain", [])


@pytest.fixture(scope="module")
def tls_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    certificates = issue_certificates(tmp_path_factory.mktemp("phase-pki"))
    extra = ["--cert", str(certificates.cert_path), "--key", str(certificates.key_path)]
    extra += ["--handshake-delay", str(HANDSHAKE_DELAY_S)]
    yield from _target("phase-target-tls", extra)


def _blackbox_phases(blackbox: str, url: str, module: str) -> dict[str, float]:
    query = urllib.parse.urlencode({"target": url, "module": module})
    with urllib.request.urlopen(f"{blackbox}/probe?{query}", timeout=10) as reply:
        text = reply.read().decode()
    phases, success = {}, None
    for line in text.splitlines():
        if line.startswith('probe_http_duration_seconds{phase="'):
            label, value = line.split(" ")
            phases[label.split('"')[1]] = float(value)
        elif line.startswith("probe_success "):
            success = line.split(" ")[1]
    assert success == "1", text
    return phases


class _OurProber:
    """The http step in a process of its own (tests.harness.phase_probe), one probe a call."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.phase_probe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def probe(self, url: str) -> dict[str, float]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(url + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        assert reply["ok"], reply["error"]
        phases: dict[str, float] = reply["phases"]
        return phases

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _compare(blackbox: str, url: str, module: str) -> dict[str, tuple[float, float]]:
    """Medians per blackbox phase: (ours, blackbox's), in seconds.

    Each prober runs in its own process, so the comparison is between the two probers and
    not between the test process (with whatever earlier tests left running in it) and the
    exporter.
    """
    ours: dict[str, list[float]] = defaultdict(list)
    theirs: dict[str, list[float]] = defaultdict(list)
    prober = _OurProber()
    try:
        for round_number in range(ROUNDS + 1):
            # Alternate who goes first, and pace the probes as an interval would: a probe
            # started the instant the other returns competes with its teardown (connection
            # close, the exporter's garbage collection) for the CPU and measures that instead.
            if round_number % 2:
                measured = _blackbox_phases(blackbox, url, module)
                time.sleep(PACE_S)
                ours_by_name = prober.probe(url)
            else:
                ours_by_name = prober.probe(url)
                time.sleep(PACE_S)
                measured = _blackbox_phases(blackbox, url, module)
            time.sleep(PACE_S)
            if round_number == 0:
                continue  # warm-up: first-use costs on both sides (thread pools, TLS contexts)
            for their_phase, our_phase in PHASES.items():
                if their_phase in measured:
                    theirs[their_phase].append(measured[their_phase])
                    ours[their_phase].append(ours_by_name.get(our_phase, 0.0))
    finally:
        prober.close()
    return {
        phase: (statistics.median(ours[phase]), statistics.median(theirs[phase]))
        for phase in theirs
    }


def _assert_agree(medians: dict[str, tuple[float, float]], expected: set[str]) -> None:
    report = ", ".join(
        f"{phase}: ours {o * 1e3:.3f} ms vs blackbox {t * 1e3:.3f} ms"
        for phase, (o, t) in medians.items()
    )
    assert expected <= set(medians), report
    for phase, (ours, theirs) in medians.items():
        tolerance = max(0.001, 0.05 * theirs)
        assert abs(ours - theirs) <= tolerance, f"{phase} disagrees beyond {tolerance}s: {report}"
    assert medians["processing"][0] >= HEADER_DELAY_S, report
    assert medians["transfer"][0] >= BODY_DELAY_S, report


def test_plain_http_phases_agree_with_blackbox_exporter(blackbox: str, plain_port: int) -> None:
    url = f"http://127.0.0.1:{plain_port}/"
    medians = _compare(blackbox, url, "http_plain")
    _assert_agree(medians, {"resolve", "connect", "processing", "transfer"})


def test_https_phases_by_name_agree_with_blackbox_exporter(blackbox: str, tls_port: int) -> None:
    addresses = {info[4][0] for info in socket.getaddrinfo("localhost", tls_port)}
    assert addresses == {"127.0.0.1"}, "this test needs localhost to resolve to 127.0.0.1 only"
    url = f"https://localhost:{tls_port}/"
    medians = _compare(blackbox, url, "https_insecure")
    _assert_agree(medians, {"resolve", "connect", "tls", "processing", "transfer"})
    assert medians["tls"][0] >= HANDSHAKE_DELAY_S, medians
    assert medians["tls"][1] >= HANDSHAKE_DELAY_S, medians
