"""Kernel for one Span: ids, name, kind, times, status and the configured attributes into a row.

Events, links, trace state, flags and unknown fields are skipped by wire type. When a field
repeats, its last occurrence wins, and a repeated `status` is merged, as protobuf parses them.
Ids must be empty or of their OTLP size (16 bytes for trace ids, 8 for span ids).
"""

from __future__ import annotations

import numpy as np

from cxj_processors.wire.attributes import parse_attribute
from cxj_processors.wire.columns import AttributeColumns, SpanColumns
from cxj_processors.wire.errors import (
    ERR_PARENT_SPAN_ID_LENGTH,
    ERR_SPAN_ID_LENGTH,
    ERR_TRACE_ID_LENGTH,
    MSG_SPAN,
    MSG_STATUS,
    STATE_ATTRIBUTE,
)
from cxj_processors.wire.fields import (
    SPAN_ATTRIBUTES,
    SPAN_END_TIME,
    SPAN_KIND,
    SPAN_NAME,
    SPAN_PARENT_SPAN_ID,
    SPAN_SPAN_ID,
    SPAN_START_TIME,
    SPAN_STATUS,
    SPAN_TRACE_ID,
    STATUS_CODE,
)
from cxj_processors.wire.jit import inlined
from cxj_processors.wire.strings import KeySet
from cxj_processors.wire.varint import (
    WIRE_I64,
    WIRE_LEN,
    WIRE_VARINT,
    Buffer,
    State,
    as_int32,
    big_endian64,
    fail,
    failed_in,
    read_field,
)


@inlined
def _small(value: int) -> int:
    """An enum value for an int8 column: kept if it fits, else -1 (unrepresentable)."""
    if -128 <= value <= 127:
        return value
    return -1


@inlined
def _parse_status(buf: Buffer, pos: int, end: int, code: int, state: State) -> tuple[int, int]:
    """Merges one Status into `code`; returns (code, next position or -1)."""
    while pos < end:
        field, wire, raw, _, pos = read_field(buf, pos, end, state)
        if pos < 0:
            return code, failed_in(state, MSG_STATUS)
        if field == STATUS_CODE and wire == WIRE_VARINT:
            code = as_int32(raw)
    return code, pos


@inlined
def parse_span(  # noqa: PLR0912, PLR0915, PLR0917 (one dispatch over the Span's fields)
    buf: Buffer,
    pos: int,
    end: int,
    row: int,
    spans: SpanColumns,
    keys: KeySet,
    attributes: AttributeColumns,
    state: State,
) -> int:
    """Parses one Span into `row` of the span columns; returns the next position or -1."""
    trace_hi = trace_lo = span_id = parent_id = np.uint64(0)
    name_off = name_len = kind = start_ns = end_ns = status = attribute = 0
    while pos < end:
        tag_pos = pos
        field, wire, raw, start, pos = read_field(buf, pos, end, state)
        if pos < 0:
            break
        if wire == WIRE_LEN:
            size = pos - start
            if field == SPAN_ATTRIBUTES:
                after = parse_attribute(buf, start, pos, keys, row, attributes, state)
                if after < 0:
                    state[STATE_ATTRIBUTE] = attribute
                    pos = after
                attribute += 1
            elif field == SPAN_NAME:
                name_off, name_len = start, size
            elif field == SPAN_TRACE_ID:
                if size == 16:
                    trace_hi, trace_lo = big_endian64(buf, start), big_endian64(buf, start + 8)
                elif size == 0:
                    trace_hi = trace_lo = np.uint64(0)
                else:
                    pos = fail(state, ERR_TRACE_ID_LENGTH, tag_pos, size)
            elif field in (SPAN_SPAN_ID, SPAN_PARENT_SPAN_ID):
                if size not in (8, 0):
                    code = (
                        ERR_SPAN_ID_LENGTH if field == SPAN_SPAN_ID else ERR_PARENT_SPAN_ID_LENGTH
                    )
                    pos = fail(state, code, tag_pos, size)
                value = big_endian64(buf, start) if size == 8 else np.uint64(0)
                if field == SPAN_SPAN_ID:
                    span_id = value
                else:
                    parent_id = value
            elif field == SPAN_STATUS:
                status, pos = _parse_status(buf, start, pos, status, state)
        elif wire == WIRE_I64:
            if field == SPAN_START_TIME:
                start_ns = int(np.int64(raw))
            elif field == SPAN_END_TIME:
                end_ns = int(np.int64(raw))
        elif wire == WIRE_VARINT and field == SPAN_KIND:
            kind = as_int32(raw)
        if pos < 0:
            break
    if pos < 0:
        return failed_in(state, MSG_SPAN)
    spans.trace_id_hi[row] = trace_hi
    spans.trace_id_lo[row] = trace_lo
    spans.span_id[row] = span_id
    spans.parent_span_id[row] = parent_id
    spans.name_off[row] = name_off
    spans.name_len[row] = name_len
    spans.kind[row] = _small(kind)
    spans.start_ns[row] = start_ns
    spans.end_ns[row] = end_ns
    spans.status_code[row] = _small(status)
    return pos
