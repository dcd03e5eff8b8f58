"""Starting real server processes for tests: free ports, logs on disk, readiness, clean stops."""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


_ISSUED: set[int] = set()

# Every process started and not yet stopped, so none outlives the run that started it.
_RUNNING: dict[int, Process] = {}


def _kill_running() -> None:
    for process in list(_RUNNING.values()):
        process.kill()


atexit.register(_kill_running)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_servers_on_termination() -> None:
    """Makes SIGTERM (a CI runner's or `timeout`'s) interrupt the main thread like Ctrl-C.

    The servers run in sessions of their own, so the signal does not reach them: on the
    interrupt the fixtures and context managers that own them stop them, and whatever is
    still running when the interpreter exits is killed then. Call it from the main thread.
    """
    signal.signal(signal.SIGTERM, _interrupt)


@functools.cache
def _ephemeral_start() -> int:
    """The first port the kernel gives outgoing connections (and binds to port 0)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that is free right now, for a server to listen on.

    It lies below the kernel's ephemeral range, so no outgoing connection can take it as its
    source port before the server binds it (a port from the range, as binding to port 0
    gives, can be, and the server then fails with "address already in use"). No port is
    handed out twice in one test run.
    """
    low = _ephemeral_start()
    first = max(1024, low - 12000)
    for _ in range(2000):
        port = random.randint(first, low - 1)
        if port in _ISSUED:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ISSUED.add(port)
        return port
    raise RuntimeError(f"no free TCP port between {first} and {low - 1}")


def infra_paths(*components: str) -> dict[str, Path]:
    """Builds (or reuses from the cache) real components and returns their folders by name."""
    result = subprocess.run(
        [str(REPO / "scripts" / "build-infra.sh"), *components],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    paths = {}
    for line in result.stdout.splitlines():
        name, _, path = line.partition("=")
        if path:
            paths[name] = Path(path)
    return paths


def logs_dir() -> Path:
    """Returns where server logs go: CXJ_TEST_LOGS, else .test-logs/ in the repository."""
    return Path(os.environ.get("CXJ_TEST_LOGS", REPO / ".test-logs"))


def log_tail(path: Path, lines: int = 40) -> str:
    """Returns the last lines of a log file, for failure messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


class Process:
    """One server process whose output goes to a log file."""

    def __init__(
        self, name: str, argv: Sequence[str], log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Starts the process in its own process group."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            start_new_session=True,
        )
        log.close()
        _RUNNING[self.popen.pid] = self
        return self

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.popen is not None and self.popen.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Polls a readiness check while the process starts; raises with its log on failure."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited while starting:\n{log_tail(self.log_path)}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.1)
        raise TimeoutError(
            f"{self.name} not {what} after {timeout:.0f}s:\n{log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Sends SIGTERM to the process group, then SIGKILL if it lingers."""
        if self.popen is None:
            return
        _RUNNING.pop(self.popen.pid, None)
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        """Kills the process group at once (a crash, as far as the rest can tell)."""
        if self.popen is None:
            return
        _RUNNING.pop(self.popen.pid, None)
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def strangers(names: Sequence[str]) -> list[str]:
    """Running processes of these programs that this run did not start, as "name (pid)".

    A benchmark reports them: a server left behind by an interrupted run takes CPU from
    the same cores and skews every figure measured next to it.
    """
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        argv = process.info["cmdline"] or [""]
        name = Path(argv[0]).name
        if name in names and process.info["pid"] not in _RUNNING:
            found.append(f"{name} ({process.info['pid']})")
    return found


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on the port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
