"""Delivering OTLP requests downstream through a bounded on-disk queue with retry and backoff.

Derived metrics and passed-through input are written to the queue first and sent from
it, so a backend outage or a processor restart loses nothing until the queue's byte
bound is reached; past it the oldest requests are dropped and counted, never silently.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc

log = logging.getLogger("cxj.processor.outbox")

METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
}

Send = Callable[[str, bytes], None]


class Outbox:
    """A folder of pending requests (one file each, oldest first) and a sender thread."""

    def __init__(
        self, folder: Path | None, send: Send, *, max_bytes: int, max_backoff_s: float = 30.0
    ) -> None:
        self.folder = folder
        self.send = send
        self.max_bytes = max_bytes
        self.max_backoff_s = max_backoff_s
        self.dropped = 0
        self.sent = 0
        self.failures = 0
        self._memory: list[tuple[str, bytes]] = []  # used when no folder is configured
        self._counter = itertools.count()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cxj-outbox", daemon=True)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            existing = self._files()
            if existing:
                self._counter = itertools.count(int(existing[-1].name.split(".")[0]) + 1)

    def start(self) -> Outbox:
        """Starts the sender thread."""
        self._thread.start()
        return self

    def _files(self) -> list[Path]:
        assert self.folder is not None
        return sorted(self.folder.glob("*.otlp"))

    def put(self, signal: str, payload: bytes) -> None:
        """Queues a request for delivery, dropping the oldest when over the byte bound."""
        with self._lock:
            if self.folder is None:
                self._memory.append((signal, payload))
                while sum(len(p) for _, p in self._memory) > self.max_bytes and self._memory:
                    self._memory.pop(0)
                    self.dropped += 1
            else:
                name = f"{next(self._counter):016d}.{signal}.otlp"
                temporary = self.folder / (name + ".tmp")
                temporary.write_bytes(payload)
                temporary.rename(self.folder / name)
                files = self._files()
                total = sum(f.stat().st_size for f in files)
                while files and total > self.max_bytes:
                    oldest = files.pop(0)
                    total -= oldest.stat().st_size
                    oldest.unlink(missing_ok=True)
                    self.dropped += 1
                    log.warning(
                        "export queue over %d bytes: dropped the oldest request", self.max_bytes
                    )
        self._wake.set()

    def depth(self) -> int:
        """Requests waiting for delivery."""
        with self._lock:
            return len(self._memory) if self.folder is None else len(self._files())

    def _oldest(self) -> tuple[str, bytes, Path | None] | None:
        with self._lock:
            if self.folder is None:
                if not self._memory:
                    return None
                signal, payload = self._memory[0]
                return signal, payload, None
            files = self._files()
            if not files:
                return None
            return files[0].name.split(".")[1], files[0].read_bytes(), files[0]

    def _done(self, path: Path | None) -> None:
        with self._lock:
            if path is None:
                self._memory.pop(0)
            else:
                path.unlink(missing_ok=True)
        self.sent += 1

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            item = self._oldest()
            if item is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            signal, payload, path = item
            try:
                self.send(signal, payload)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                if code in _RETRYABLE:
                    self.failures += 1
                    log.warning("export to backend failed (%s); retrying in %.1fs", code, backoff)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self.max_backoff_s)
                    continue
                log.error("backend rejected a request permanently (%s): dropped", code)
                self.dropped += 1
                self._done(path)
                continue
            backoff = 0.5
            self._done(path)

    def stop(self, drain_s: float = 5.0) -> None:
        """Delivers what is queued for up to drain_s, then stops; the rest stays on disk."""
        deadline = time.monotonic() + drain_s
        while self.depth() and time.monotonic() < deadline and self.failures == 0:
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def grpc_sender(endpoint: str, *, insecure: bool, headers: str, timeout_s: float = 10.0) -> Send:
    """Returns a function that sends raw OTLP request bytes to an OTLP/gRPC endpoint."""
    credentials = None if insecure else grpc.ssl_channel_credentials()
    channel = (
        grpc.insecure_channel(endpoint)
        if credentials is None
        else grpc.secure_channel(endpoint, credentials)
    )
    metadata = tuple(
        (key.strip().lower(), value.strip())
        for key, _, value in (item.partition("=") for item in headers.split(",") if item)
    )
    calls = {
        signal: channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for signal, method in METHODS.items()
    }

    def send(signal: str, payload: bytes) -> None:
        calls[signal](payload, timeout=timeout_s, metadata=metadata)

    return send
