"""A write-ahead log of accepted OTLP payloads, so a crash loses nothing that was acknowledged.

Each record is framed as: 4-byte length, 4-byte CRC-32, 1-byte signal, payload. A torn
record at the end (a crash mid-write) is detected by its length or checksum and ignored;
everything before it is replayed.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

_HEADER = struct.Struct("<IIB")
SIGNALS = {"traces": 1, "metrics": 2, "logs": 3}
_NAMES = {v: k for k, v in SIGNALS.items()}


class WriteAheadLog:
    """Appends payloads to numbered segment files; a checkpoint retires old segments."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        existing = self.segments()
        self._number = (int(existing[-1].stem) + 1) if existing else 1
        self._file = self._open(self._number)

    def _open(self, number: int):  # type: ignore[no-untyped-def]
        return (self.folder / f"{number:012d}.wal").open("ab", buffering=0)

    @property
    def current_segment(self) -> int:
        """The number of the segment new records go to."""
        return self._number

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.folder.glob("*.wal"))

    def append(self, signal: str, payload: bytes) -> None:
        """Writes one record. The OS has it when this returns, so a killed process keeps it."""
        record = _HEADER.pack(len(payload), zlib.crc32(payload), SIGNALS[signal]) + payload
        with self._lock:
            self._file.write(record)

    def rotate(self) -> int:
        """Starts a new segment and returns its number; records before it are in older ones."""
        with self._lock:
            self._file.close()
            self._number += 1
            self._file = self._open(self._number)
            return self._number

    def retire_before(self, number: int) -> None:
        """Deletes segments older than `number` (their records are in a checkpoint)."""
        for segment in self.segments():
            if int(segment.stem) < number:
                segment.unlink()

    def close(self) -> None:
        """Closes the current segment."""
        with self._lock:
            self._file.close()

    def replay(self, since: int = 0, before: int | None = None) -> Iterator[tuple[str, bytes]]:
        """Yields every intact record of segments numbered from `since` up to `before`."""
        for segment in self.segments():
            if int(segment.stem) < since:
                continue  # already in the checkpoint (retiring it was cut short)
            if before is not None and int(segment.stem) >= before:
                break
            data = segment.read_bytes()
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, checksum, signal = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                payload = data[start : start + length]
                if len(payload) < length or zlib.crc32(payload) != checksum:
                    break  # a torn tail: the write the crash interrupted was never acknowledged
                yield _NAMES.get(signal, "traces"), payload
                offset = start + length

    def fsync(self) -> None:
        """Forces the current segment to disk."""
        with self._lock:
            os.fsync(self._file.fileno())
