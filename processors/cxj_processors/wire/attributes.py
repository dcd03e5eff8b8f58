"""Kernels for attribute lists (repeated KeyValue): the configured keys' values into columns.

A value lands in one row and column of four arrays: hash, offset and length for string and
bytes values (hashed as they are parsed, by `strings.fnv1a_at`), a float64 for int, double
and bool values. Arrays, kvlists and unset values count as
absent. When a key repeats, its last occurrence wins, absent or not. The value of a key that
is not configured is skipped by its length, unread.
"""

from __future__ import annotations

import numpy as np

from cxj_processors.wire.columns import AttributeColumns
from cxj_processors.wire.errors import MSG_ANY_VALUE, MSG_KEY_VALUE
from cxj_processors.wire.jit import inlined
from cxj_processors.wire.strings import KeySet, fnv1a_at, match_key
from cxj_processors.wire.varint import (
    WIRE_I64,
    WIRE_LEN,
    WIRE_VARINT,
    Buffer,
    State,
    failed_in,
    read_field,
)

# An attribute value as the kernels carry it: (kind, offset, length, number).
Value = tuple[int, int, int, float]
VALUE_ABSENT = 0
VALUE_STRING = 1
VALUE_NUMBER = 2
ABSENT: Value = (VALUE_ABSENT, -1, 0, np.nan)

# AnyValue fields: a oneof, so the last member on the wire wins.
_STRING_VALUE = 1
_BOOL_VALUE = 2
_INT_VALUE = 3
_DOUBLE_VALUE = 4
_ARRAY_VALUE = 5
_KVLIST_VALUE = 6
_BYTES_VALUE = 7
_STRING_VALUE_STRINDEX = 8
# KeyValue fields, and their tags as one byte (field number << 3 | wire type).
_KEY = 1
_VALUE = 2
_KEY_TAG = _KEY << 3 | WIRE_LEN
_VALUE_TAG = _VALUE << 3 | WIRE_LEN


@inlined
def _double_at(buf: Buffer, pos: int) -> float:
    """The little-endian IEEE 754 double at pos (the caller checked that 8 bytes are there)."""
    return float(buf[pos : pos + 8].view(np.float64)[0])


@inlined
def parse_any_value(
    buf: Buffer, pos: int, end: int, value: Value, state: State
) -> tuple[Value, int]:
    """Merges one AnyValue into `value`; returns the merged value and the next position.

    This is how protobuf merges a message field that appears twice: the last member of the
    oneof on the wire wins. The position is -1 on error.
    """
    while pos < end:
        field, wire, raw, start, pos = read_field(buf, pos, end, state)
        if pos < 0:
            return value, failed_in(state, MSG_ANY_VALUE)
        if wire == WIRE_LEN:
            if field in (_STRING_VALUE, _BYTES_VALUE):
                value = (VALUE_STRING, start, pos - start, np.nan)
            elif field in (_ARRAY_VALUE, _KVLIST_VALUE):
                value = ABSENT
        elif wire == WIRE_VARINT:
            if field == _INT_VALUE:
                value = (VALUE_NUMBER, -1, 0, float(np.int64(raw)))
            elif field == _BOOL_VALUE:
                value = (VALUE_NUMBER, -1, 0, 1.0 if raw != np.uint64(0) else 0.0)
            elif field == _STRING_VALUE_STRINDEX:
                value = ABSENT
        elif wire == WIRE_I64 and field == _DOUBLE_VALUE:
            value = (VALUE_NUMBER, -1, 0, _double_at(buf, start))
    return value, pos


@inlined
def _scan_key_value(
    buf: Buffer, pos: int, end: int, state: State
) -> tuple[int, int, int, int, int, int, int]:
    """Finds a KeyValue's key (the last one) and its value fields.

    Returns (key offset, key length, number of value fields, offset of the first one's tag,
    start and end of the last one's content, `end` or -1 on error).
    """
    key_off = pos
    key_len = 0
    values = 0
    first_value = value_start = value_end = -1
    # Fast path for the layout every encoder writes: [key][value], one-byte lengths.
    if end - pos >= 4 and buf[np.uintp(pos)] == _KEY_TAG and buf[np.uintp(pos + 1)] < 0x80:
        value_tag = pos + 2 + int(buf[np.uintp(pos + 1)])
        if (
            end - value_tag >= 2
            and buf[np.uintp(value_tag)] == _VALUE_TAG
            and buf[np.uintp(value_tag + 1)] < 0x80
            and value_tag + 2 + int(buf[np.uintp(value_tag + 1)]) == end
        ):
            return pos + 2, value_tag - pos - 2, 1, value_tag, value_tag + 2, end, end
    while pos < end:
        tag_pos = pos
        field, wire, _, start, pos = read_field(buf, pos, end, state)
        if pos < 0:
            break
        if wire == WIRE_LEN and field == _KEY:
            key_off, key_len = start, pos - start
        elif wire == WIRE_LEN and field == _VALUE:
            values += 1
            value_start, value_end = start, pos
            if first_value < 0:
                first_value = tag_pos
    return key_off, key_len, values, first_value, value_start, value_end, pos


@inlined
def parse_attribute(  # noqa: PLR0917 (kernels take their arrays positionally)
    buf: Buffer,
    pos: int,
    end: int,
    keys: KeySet,
    row: int,
    columns: AttributeColumns,
    state: State,
) -> int:
    """Parses one KeyValue at buf[pos:end]; if its key is configured, writes its value.

    The value goes to `row` of the columns, in the key's column. Returns `end`, or -1 on
    error.
    """
    key_off, key_len, values, first_value, value_start, value_end, pos = _scan_key_value(
        buf, pos, end, state
    )
    if pos < 0:
        return failed_in(state, MSG_KEY_VALUE)
    column = match_key(buf, key_off, key_len, keys)
    if column < 0:
        return end
    value = ABSENT
    # A value field that appears more than once is merged in wire order (rare): each is
    # found again from the first; the scan above has validated them all.
    pos = first_value
    for _occurrence in range(values):
        field = wire = -1
        while values > 1 and (field != _VALUE or wire != WIRE_LEN):
            field, wire, _, value_start, value_end = read_field(buf, pos, end, state)
            pos = value_end
        value, after = parse_any_value(buf, value_start, value_end, value, state)
        if after < 0:
            return failed_in(state, MSG_KEY_VALUE)
    _, off, length, number = value
    columns.hashes[row, column] = fnv1a_at(buf, off, length)  # while the bytes are in cache
    columns.offsets[row, column] = off
    columns.lengths[row, column] = length
    columns.numbers[row, column] = number
    return end
