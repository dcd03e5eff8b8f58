"""String handling for the decoder: FNV-1a hashes of byte slices and matching configured keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from cxj_processors.wire.jit import inlined, walker
from cxj_processors.wire.varint import fixed64

FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_WORD = 8
_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, for Fibonacci hashing
_UINT64 = (1 << 64) - 1


class KeySet(NamedTuple):
    """Attribute keys to extract, laid out for `match_key`.

    Key i is text[starts[i]:starts[i + 1]]. Each key has a signature: its length, and its
    first and last 8 bytes as little-endian integers (zero-padded below 8 bytes), which is
    the whole key up to 16 bytes. Keys sit in an open-addressed table (`slots`, -1 = empty,
    at most a quarter full) by a hash of their signature, so that finding a key, or finding
    that an attribute's key is not wanted, is usually a single probe.
    """

    text: npt.NDArray[np.uint8]
    starts: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    first_words: npt.NDArray[np.uint64]
    last_words: npt.NDArray[np.uint64]
    slots: npt.NDArray[np.int64]
    slot_shift: int


@inlined
def _finish(value: np.uint64, off: int) -> np.uint64:
    """A hash column's value: 0 for an absent string (offset -1), and never 0 otherwise."""
    if off < 0:
        return np.uint64(0)
    if value == np.uint64(0):
        return np.uint64(1)
    return value


@walker
def hash_slices(
    buf: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int32],
    hashes: npt.NDArray[np.uint64],
) -> None:
    """Fills hashes[i] with the FNV-1a of buf[offsets[i]:offsets[i] + lengths[i]] (0 if absent).

    FNV-1a is a chain of dependent multiplies, about four cycles a byte. Stepping four
    independent chains together over their common length overlaps those latencies; hashing
    after the parse, rather than inside it, is what makes the strings available in fours.
    Span names (long, and hashed only on request) are hashed this way; attribute values,
    mostly a few bytes long, as they are parsed (`fnv1a_at`), while they are in cache.
    """
    prime = np.uint64(FNV_PRIME)
    count = offsets.shape[0]
    for first in range(0, count - count % 4, 4):
        o0, o1, o2, o3 = offsets[first], offsets[first + 1], offsets[first + 2], offsets[first + 3]
        l0, l1, l2, l3 = lengths[first], lengths[first + 1], lengths[first + 2], lengths[first + 3]
        h0 = h1 = h2 = h3 = np.uint64(FNV_OFFSET_BASIS)
        for i in range(min(l0, l1, l2, l3)):
            h0 = (h0 ^ np.uint64(buf[np.uintp(o0 + i)])) * prime
            h1 = (h1 ^ np.uint64(buf[np.uintp(o1 + i)])) * prime
            h2 = (h2 ^ np.uint64(buf[np.uintp(o2 + i)])) * prime
            h3 = (h3 ^ np.uint64(buf[np.uintp(o3 + i)])) * prime
        shared = min(l0, l1, l2, l3)
        hashes[first] = _finish(_fnv_from(buf, o0 + shared, l0 - shared, h0), o0)
        hashes[first + 1] = _finish(_fnv_from(buf, o1 + shared, l1 - shared, h1), o1)
        hashes[first + 2] = _finish(_fnv_from(buf, o2 + shared, l2 - shared, h2), o2)
        hashes[first + 3] = _finish(_fnv_from(buf, o3 + shared, l3 - shared, h3), o3)
    for index in range(count - count % 4, count):
        start = offsets[index]
        value = _fnv_from(buf, start, lengths[index], np.uint64(FNV_OFFSET_BASIS))
        hashes[index] = _finish(value, start)


@inlined
def _fnv_from(buf: npt.NDArray[np.uint8], off: int, length: int, value: np.uint64) -> np.uint64:
    """Continues an FNV-1a hash over buf[off:off + length]."""
    prime = np.uint64(FNV_PRIME)
    for i in range(np.uintp(off), np.uintp(off + length)):
        value = (value ^ np.uint64(buf[i])) * prime
    return value


@inlined
def fnv1a_at(buf: npt.NDArray[np.uint8], off: int, length: int) -> np.uint64:
    """A hash column's value for buf[off:off + length]: its FNV-1a, 0 when off is -1 (absent).

    A string of at most 8 bytes with 8 bytes of buffer from its start (most attribute values)
    is hashed by a fixed 8 steps, each one kept only within the string: no branch on its
    length, so the CPU overlaps the hashes of successive strings instead of stopping at each
    one's end.
    """
    if off < 0:
        return np.uint64(0)
    value = np.uint64(FNV_OFFSET_BASIS)
    if length <= _WORD and off + _WORD <= buf.shape[0]:
        prime = np.uint64(FNV_PRIME)
        for i in range(_WORD):
            step = (value ^ np.uint64(buf[np.uintp(off + i)])) * prime
            value = step if i < length else value
    else:
        value = _fnv_from(buf, off, length, value)
    return _finish(value, off)


@inlined
def _first_word(buf: npt.NDArray[np.uint8], off: int, length: int) -> np.uint64:
    """The first min(8, length) bytes at off as a little-endian integer."""
    if length >= _WORD:
        return fixed64(buf, off)
    value = np.uint64(0)
    for i in range(length - 1, -1, -1):
        value = (value << np.uint64(8)) | np.uint64(buf[np.uintp(off + i)])
    return value


@inlined
def _slot(first: np.uint64, last: np.uint64, length: int, shift: int) -> int:
    """A key signature's home slot: a Fibonacci hash, the table size being 2**(64 - shift)."""
    mixed = (first ^ last ^ np.uint64(length)) * np.uint64(_GOLDEN)
    return int(np.int64(mixed >> np.uint64(shift)))


@inlined
def match_key(buf: npt.NDArray[np.uint8], off: int, length: int, keys: KeySet) -> int:
    """Index of the configured key equal to buf[off:off + length], or -1."""
    first = _first_word(buf, off, length)
    last = fixed64(buf, off + length - _WORD) if length >= _WORD else first
    mask = keys.slots.shape[0] - 1
    slot = _slot(first, last, length, keys.slot_shift)
    while True:  # ends: the table always has empty slots
        index = keys.slots[slot]
        if index < 0:
            return -1
        if (
            keys.lengths[index] == length
            and keys.first_words[index] == first
            and keys.last_words[index] == last
        ):
            start = keys.starts[index]
            same = True
            for i in range(_WORD, length - _WORD):  # only keys over 16 bytes have a middle
                if keys.text[np.uintp(start + i)] != buf[np.uintp(off + i)]:
                    same = False
                    break
            if same:
                return int(index)
        slot = (slot + 1) & mask


def fnv1a64(data: bytes | bytearray | memoryview) -> int:
    """64-bit FNV-1a of `data`, as in the decoder's *_hash columns (0 is remapped to 1)."""
    buf = np.frombuffer(bytes(data), dtype=np.uint8)
    hashes = np.zeros(1, dtype=np.uint64)
    lengths = np.array([buf.shape[0]], dtype=np.int32)
    with np.errstate(over="ignore"):  # the multiply wraps by design when JIT is disabled
        hash_slices(buf, np.zeros(1, dtype=np.int64), lengths, hashes)
    return int(hashes[0])


def pack_keys(keys: Sequence[str], what: str) -> KeySet:
    """Lays out attribute keys (as UTF-8) for `match_key`; rejects empty and repeated keys.

    Args:
        keys: the attribute keys to extract, in column order.
        what: the argument's name, for error messages (e.g. "span_keys").

    Raises:
        ValueError: a key is not a non-empty string, or appears twice.
    """
    if isinstance(keys, str):
        raise ValueError(f"{what}: expected a sequence of keys, got the single string {keys!r}")
    encoded: list[bytes] = []
    for index, key in enumerate(keys):
        if not isinstance(key, str) or not key:
            raise ValueError(f"{what}[{index}]: keys must be non-empty strings, got {key!r}")
        if key.encode() in encoded:
            raise ValueError(f"{what}[{index}]: {key!r} appears twice; list each key once")
        encoded.append(key.encode())
    lengths = np.array([len(key) for key in encoded], dtype=np.int64)
    starts = np.zeros(len(encoded) + 1, dtype=np.int64)
    starts[1:] = np.cumsum(lengths)
    first = [int.from_bytes(key[:_WORD], "little") for key in encoded]
    last = [
        int.from_bytes(key[-_WORD:], "little") if len(key) >= _WORD else word
        for key, word in zip(encoded, first, strict=True)
    ]
    bits = max(3, (4 * len(encoded) - 1).bit_length())
    slots = np.full(1 << bits, -1, dtype=np.int64)
    for index, text in enumerate(encoded):
        mixed = ((first[index] ^ last[index] ^ len(text)) * _GOLDEN) & _UINT64
        slot = mixed >> (64 - bits)
        while slots[slot] >= 0:
            slot = (slot + 1) & (len(slots) - 1)
        slots[slot] = index
    return KeySet(
        text=np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
        starts=starts,
        lengths=lengths,
        first_words=np.array(first, dtype=np.uint64),
        last_words=np.array(last, dtype=np.uint64),
        slots=slots,
        slot_shift=64 - bits,
    )
