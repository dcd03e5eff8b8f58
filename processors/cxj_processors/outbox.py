"""Delivering OTLP requests downstream through a bounded on-disk queue with retry and backoff.

Derived metrics and passed-through input are written to the queue first and sent from it,
oldest first, so a backend outage or a processor restart (even `kill -9`) loses nothing
until the queue's byte bound is reached. Delivery is at least once: a request leaves the
queue only after the backend acknowledged it, so a crash between the acknowledgement and
the removal sends it again after the restart.

Losses are never silent; each is logged and counted:
- full queue: the oldest requests are dropped to make room for the new one (`dropped`);
- a request larger than the whole bound is refused on its own (`dropped`);
- a queued file that no longer reads back intact (a torn write) is discarded (`dropped`);
- a permanent refusal by the backend (e.g. INVALID_ARGUMENT) is not retried (`rejected`).

Each request is one file `<sequence>.<signal>.otlp` holding a header (magic, length,
CRC-32) and the payload, written to a temporary name and renamed, so a file under its
final name is whole; a leftover temporary file is a put that never returned and is removed.
"""

from __future__ import annotations

import itertools
import logging
import struct
import threading
import time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import grpc

from cxj_processors.grpc_export import METHODS, RETRYABLE, Send, grpc_sender, retry_delay

__all__ = [
    "CorruptEntry",
    "Outbox",
    "grpc_sender",
    "read_request",
]  # grpc_sender: its home before the split

log = logging.getLogger("cxj.processor.outbox")

_HEADER = struct.Struct("<4sII")  # magic, payload length, CRC-32 of the payload
_MAGIC = b"CXQ1"
_SUFFIX = ".otlp"


class CorruptEntry(Exception):
    """A queued file that does not read back as the request that was written."""


@dataclass(eq=False)  # entries are compared by identity: the same request twice is two entries
class _Entry:
    sequence: int
    signal: str
    size: int
    path: Path | None  # None: kept in memory
    payload: bytes | None = None


class Outbox:
    """A bounded FIFO of pending requests (one file each, or in memory) and a sender thread.

    Args:
        folder: where requests are kept; None keeps them in memory (lost on restart).
        send: delivers one request; raises grpc.RpcError when the backend refuses it.
        max_bytes: bound on queued payload bytes; the oldest requests make room.
        max_backoff_s: ceiling of the doubling pause between failed attempts.
        initial_backoff_s: the first pause after a failure.
        name: names the queue in logs ("export", "passthrough").
    """

    def __init__(
        self,
        folder: Path | None,
        send: Send,
        *,
        max_bytes: int,
        max_backoff_s: float = 30.0,
        initial_backoff_s: float = 0.5,
        name: str = "export",
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"{name} queue max_bytes: must be positive, got {max_bytes}")
        self.folder = folder
        self.send = send
        self.max_bytes = max_bytes
        self.max_backoff_s = max_backoff_s
        self.initial_backoff_s = min(initial_backoff_s, max_backoff_s)
        self.name = name
        self.sent = 0
        self.dropped = 0
        self.rejected = 0
        self.retries = 0
        self._failing = False
        self._entries: deque[_Entry] = deque()
        self._bytes = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"cxj-{name}-queue", daemon=True)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            self._load(folder)
        self._counter = itertools.count(self._entries[-1].sequence + 1 if self._entries else 0)

    def _load(self, folder: Path) -> None:
        for leftover in sorted(folder.glob(f"*{_SUFFIX}.tmp")):
            log.warning("%s queue: removed %s, a write cut short by a crash", self.name, leftover)
            leftover.unlink(missing_ok=True)
        for path in sorted(folder.glob(f"*{_SUFFIX}")):
            sequence, _, signal = path.name.removesuffix(_SUFFIX).partition(".")
            if not sequence.isdigit() or signal not in METHODS:
                log.warning("%s queue: ignored %s, not a queued request", self.name, path)
                continue
            size = max(path.stat().st_size - _HEADER.size, 0)
            self._entries.append(_Entry(int(sequence), signal, size, path))
            self._bytes += size
        if self._entries:
            log.info(
                "%s queue: %d requests (%d bytes) left from before the restart",
                self.name,
                len(self._entries),
                self._bytes,
            )

    def start(self) -> Outbox:
        """Starts the sender thread."""
        self._thread.start()
        return self

    def put(self, signal: str, payload: bytes) -> None:
        """Queues a request, dropping the oldest ones when the queue would exceed its bound.

        A request larger than the whole bound is refused on its own (logged and counted).

        Raises:
            ValueError: for a signal other than traces, metrics or logs.
        """
        if signal not in METHODS:
            raise ValueError(f"signal: expected one of {', '.join(METHODS)}, got {signal!r}")
        if len(payload) > self.max_bytes:
            with self._lock:
                self.dropped += 1
            log.error(
                "%s queue: refused a %d-byte %s request, larger than the whole queue (%d bytes); "
                "raise export_queue_max_bytes",
                self.name,
                len(payload),
                signal,
                self.max_bytes,
            )
            return
        with self._lock:
            entry = _Entry(next(self._counter), signal, len(payload), None, payload)
            if self.folder is not None:
                entry.path = self.folder / f"{entry.sequence:016d}.{signal}{_SUFFIX}"
                entry.payload = None
                temporary = entry.path.with_name(entry.path.name + ".tmp")
                header = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload))
                try:
                    temporary.write_bytes(header + payload)
                    temporary.rename(entry.path)
                except OSError as error:  # e.g. a full disk: this request is lost, say so
                    temporary.unlink(missing_ok=True)
                    self.dropped += 1
                    log.error(
                        "%s queue: could not write %s (%s): request dropped; free space in "
                        "data_dir or lower export_queue_max_bytes",
                        self.name,
                        temporary,
                        error,
                    )
                    return
            self._entries.append(entry)
            self._bytes += entry.size
            evicted = 0
            while self._bytes > self.max_bytes:
                self._discard(self._entries[0])
                evicted += 1
            self.dropped += evicted
        if evicted:
            log.warning(
                "%s queue: over %d bytes, dropped the %d oldest requests (%d dropped in all)",
                self.name,
                self.max_bytes,
                evicted,
                self.dropped,
            )
        self._wake.set()

    def depth(self) -> int:
        """Requests waiting for delivery (including one being sent)."""
        with self._lock:
            return len(self._entries)

    def queued_bytes(self) -> int:
        """Payload bytes waiting for delivery."""
        with self._lock:
            return self._bytes

    def _discard(self, entry: _Entry) -> bool:
        """Removes an entry from the queue and the disk (the caller holds the lock).

        Returns False when it was already gone (dropped to make room while being sent).
        """
        try:
            self._entries.remove(entry)
        except ValueError:
            return False
        self._bytes -= entry.size
        if entry.path is not None:
            entry.path.unlink(missing_ok=True)
        return True

    def _head(self) -> _Entry | None:
        with self._lock:
            return self._entries[0] if self._entries else None

    def _read(self, entry: _Entry) -> bytes:
        if entry.path is None:
            assert entry.payload is not None
            return entry.payload
        return read_request(entry.path)

    def _run(self) -> None:
        backoff = self.initial_backoff_s
        while not self._stop.is_set():
            entry = self._head()
            if entry is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                payload = self._read(entry)
            except CorruptEntry as error:
                with self._lock:  # logged before the queue changes: whoever sees it, sees why
                    if self._discard(entry):  # else dropped to make room meanwhile, and counted
                        log.error("%s queue: dropped %s", self.name, error)
                        self.dropped += 1
                continue
            try:
                self.send(entry.signal, payload)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                if code not in RETRYABLE:
                    with self._lock:
                        log.error(
                            "%s queue: backend refused a %s request permanently (%s: %s); dropped",
                            self.name,
                            entry.signal,
                            code,
                            error.details() if hasattr(error, "details") else error,
                        )
                        self._discard(entry)
                        self.rejected += 1
                    continue
                delay = max(backoff, retry_delay(error))
                self._retry_later(f"{code}", delay)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            except Exception as error:  # a sender bug must not stop delivery: log, keep the entry
                log.exception("%s queue: sending failed unexpectedly", self.name)
                self._retry_later(type(error).__name__, backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            with self._lock:
                if self._failing:
                    waiting = len(self._entries) - 1
                    log.info("%s queue: backend reachable again; %d waiting", self.name, waiting)
                self._failing = False
                self._discard(entry)
                self.sent += 1
            backoff = self.initial_backoff_s

    def _retry_later(self, reason: str, delay: float) -> None:
        self.retries += 1
        self._failing = True
        log.warning(
            "%s queue: export failed (%s); %d requests (%d bytes) queued, retrying in %.1fs",
            self.name,
            reason,
            self.depth(),
            self.queued_bytes(),
            delay,
        )
        self._stop.wait(delay)

    def stop(self, drain_s: float = 5.0) -> None:
        """Delivers what is queued for up to drain_s while the backend answers, then stops.

        Whatever is left stays on disk for the next start (or is lost, in memory).
        """
        deadline = time.monotonic() + drain_s
        while self.depth() and not self._failing and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self.depth():
            where = "kept on disk" if self.folder is not None else "lost (no data_dir)"
            log.warning("%s queue: %d undelivered requests %s", self.name, self.depth(), where)


def read_request(path: Path) -> bytes:
    """The OTLP request bytes a queued file holds, checked against its header.

    Raises:
        CorruptEntry: naming the file, when it is gone, torn or damaged.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise CorruptEntry(f"{path}: vanished from the queue") from error
    if len(data) < _HEADER.size:
        raise CorruptEntry(f"{path}: {len(data)} bytes, shorter than its header")
    magic, length, checksum = _HEADER.unpack_from(data)
    payload = data[_HEADER.size :]
    if magic != _MAGIC or length != len(payload) or zlib.crc32(payload) != checksum:
        raise CorruptEntry(f"{path}: torn or damaged (length or checksum mismatch)")
    return payload
