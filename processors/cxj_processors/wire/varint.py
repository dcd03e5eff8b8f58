"""Protobuf wire-format primitives for the kernels: varints, tags, whole fields, fixed ints.

Every reader takes the end of the enclosing message and never reads at or past it: a position
of -1 means the input was malformed and the reason is in the error state (see `errors`).
Numba keeps a value's NumPy type through `int()`, so unsigned values become signed with
`int(np.int64(x))`: mixing uint64 with int64 would silently give float64. The buffer is
indexed with `np.uintp` positions: a signed index costs a negative-index fix-up per byte.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.wire.errors import (
    ERR_BAD_WIRE_TYPE,
    ERR_FIELD_ZERO,
    ERR_FIXED_PAST_END,
    ERR_GROUP,
    ERR_LENGTH_PAST_END,
    ERR_OVERLONG_VARINT,
    ERR_TAG_TOO_LARGE,
    ERR_TRUNCATED_VARINT,
    STATE_CODE,
    STATE_DETAIL,
    STATE_MESSAGE,
    STATE_OFFSET,
)
from cxj_processors.wire.jit import inlined

Buffer = npt.NDArray[np.uint8]
State = npt.NDArray[np.int64]

WIRE_VARINT = 0
WIRE_I64 = 1
WIRE_LEN = 2
WIRE_START_GROUP = 3
WIRE_END_GROUP = 4
WIRE_I32 = 5

_MAX_VARINT_BYTES = 10
_MAX_TAG_BYTES = 5
_MAX_TAG = 0xFFFFFFFF
_MIN_TAG = 8  # field 1, wire type 0: smaller tags have the invalid field number 0
_DETAIL_LIMIT = 1 << 62


@inlined
def fail(state: State, code: int, offset: int, detail: int) -> int:
    """Records the first failure (later ones are its consequences) and returns -1."""
    if state[STATE_CODE] == 0:
        state[STATE_CODE] = code
        state[STATE_OFFSET] = offset
        state[STATE_DETAIL] = detail
    return -1


@inlined
def failed_in(state: State, message: int) -> int:
    """Names the innermost message of a failure on its way up, and returns -1."""
    if state[STATE_MESSAGE] == 0:
        state[STATE_MESSAGE] = message
    return -1


@inlined
def read_varint(buf: Buffer, pos: int, end: int, state: State) -> tuple[np.uint64, int]:
    """Reads a varint at pos; returns (value, next position or -1).

    Bits past the 64th are dropped, as protobuf does; more than 10 bytes is an error.
    """
    if pos < end and buf[np.uintp(pos)] < 0x80:
        return np.uint64(buf[np.uintp(pos)]), pos + 1
    start = pos
    value = np.uint64(0)
    shift = np.uint64(0)
    for _ in range(_MAX_VARINT_BYTES):
        if pos >= end:
            return np.uint64(0), fail(state, ERR_TRUNCATED_VARINT, start, 0)
        byte = buf[np.uintp(pos)]
        pos += 1
        value |= np.uint64(byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += np.uint64(7)
    return np.uint64(0), fail(state, ERR_OVERLONG_VARINT, start, 0)


@inlined
def read_tag(buf: Buffer, pos: int, end: int, state: State) -> tuple[int, int, int]:
    """Reads a field tag; returns (field number, wire type, next position or -1).

    Rejects what protobuf rejects: tags over 32 bits, field 0, wire types 6 and 7; and groups,
    which OTLP never uses.
    """
    if pos < end and buf[np.uintp(pos)] < 0x80:
        tag = int(buf[np.uintp(pos)])
        after = pos + 1
    else:
        tag = 0
        after = -1
        for i in range(_MAX_TAG_BYTES):
            if pos + i >= end:
                return 0, 0, fail(state, ERR_TRUNCATED_VARINT, pos, 0)
            byte = int(buf[np.uintp(pos + i)])
            tag |= (byte & 0x7F) << (7 * i)
            if byte < 0x80:
                after = pos + i + 1
                break
        if after < 0 or tag > _MAX_TAG:
            return 0, 0, fail(state, ERR_TAG_TOO_LARGE, pos, 0)
    field = tag >> 3
    wire = tag & 7
    if field == 0:
        return field, wire, fail(state, ERR_FIELD_ZERO, pos, 0)
    if wire in (WIRE_START_GROUP, WIRE_END_GROUP):
        return field, wire, fail(state, ERR_GROUP, pos, wire)
    if wire > WIRE_I32:
        return field, wire, fail(state, ERR_BAD_WIRE_TYPE, pos, wire)
    return field, wire, after


@inlined
def read_field(  # noqa: PLR0911 (the fast path, then one return per wire type)
    buf: Buffer, pos: int, end: int, state: State
) -> tuple[int, int, np.uint64, int, int]:
    """Reads one whole field at pos: returns (field number, wire type, value, start, next).

    For a varint, `value` is its value; for a length-delimited field the content is
    buf[start:next]; for a fixed64, `value` is its bits and `start` where they are; for a
    fixed32, `start` is where its 4 bytes are. `next` is -1 if the field is malformed.
    Message loops call this once each, so that every loop inlines one copy of the reader.
    """
    if end - pos >= 2:  # fast paths: a one-byte tag, then a one-byte varint or length ...
        tag = int(buf[np.uintp(pos)])
        second = int(buf[np.uintp(pos + 1)])
        if _MIN_TAG <= tag < 0x80 and second < 0x80:
            if tag & 7 == WIRE_LEN and pos + 2 + second <= end:
                return tag >> 3, WIRE_LEN, np.uint64(second), pos + 2, pos + 2 + second
            if tag & 7 == WIRE_VARINT:
                return tag >> 3, WIRE_VARINT, np.uint64(second), pos + 1, pos + 2
        elif _MIN_TAG <= tag < 0x80 and tag & 7 == WIRE_LEN and end - pos >= 3:
            # ... or a two-byte length, 128 bytes to 16 KiB: a span, a list of spans
            third = int(buf[np.uintp(pos + 2)])
            size = (second & 0x7F) | (third << 7)
            if third < 0x80 and pos + 3 + size <= end:
                return tag >> 3, WIRE_LEN, np.uint64(size), pos + 3, pos + 3 + size
    field, wire, pos = read_tag(buf, pos, end, state)
    if pos < 0:
        return field, wire, np.uint64(0), pos, pos
    if wire in (WIRE_VARINT, WIRE_LEN):
        value, after = read_varint(buf, pos, end, state)
        if after < 0 or wire == WIRE_VARINT:
            return field, wire, value, pos, after
        if value > np.uint64(end - after):
            detail = int(np.int64(value)) if value < np.uint64(_DETAIL_LIMIT) else -1
            return field, wire, value, after, fail(state, ERR_LENGTH_PAST_END, pos, detail)
        return field, wire, value, after, after + int(np.int64(value))
    size = 8 if wire == WIRE_I64 else 4
    if end - pos < size:
        return field, wire, np.uint64(0), pos, fail(state, ERR_FIXED_PAST_END, pos, size)
    value = fixed64(buf, pos) if size == 8 else np.uint64(0)
    return field, wire, value, pos, pos + size


@inlined
def fixed64(buf: Buffer, pos: int) -> np.uint64:
    """The little-endian uint64 at pos (the caller checked that 8 bytes are there)."""
    value = np.uint64(0)
    for i in range(7, -1, -1):
        value = (value << np.uint64(8)) | np.uint64(buf[np.uintp(pos + i)])
    return value


@inlined
def big_endian64(buf: Buffer, pos: int) -> np.uint64:
    """The big-endian uint64 at pos, as trace and span ids are read (8 bytes are there)."""
    value = np.uint64(0)
    for i in range(8):
        value = (value << np.uint64(8)) | np.uint64(buf[np.uintp(pos + i)])
    return value


@inlined
def as_int32(value: np.uint64) -> int:
    """Truncates a varint to int32, as protobuf does for enum fields."""
    low = int(np.int64(value & np.uint64(0xFFFFFFFF)))
    if low >= 1 << 31:
        return low - (1 << 32)
    return low
