"""The decoder's kernel: an ExportTraceServiceRequest into resource and span columns.

Two passes: `count_request` sizes the columns, then this module walks the request again and
fills them. Spans of every scope are flattened in wire order, each pointing at its resource's
row (one row per ResourceSpans, whether it has spans or not); scope information is skipped.
"""

from __future__ import annotations

import numpy as np

from cxj_processors.wire.attributes import parse_attribute
from cxj_processors.wire.columns import (
    AttributeColumns,
    SpanColumns,
    absent_attributes,
    empty_spans,
)
from cxj_processors.wire.counting import count_request
from cxj_processors.wire.errors import (
    ERR_INTERNAL,
    MSG_REQUEST,
    MSG_RESOURCE,
    MSG_RESOURCE_SPANS,
    MSG_SCOPE_SPANS,
    STATE_ATTRIBUTE,
    STATE_CODE,
    STATE_RESOURCE_SPANS,
    STATE_SCOPE_SPANS,
    STATE_SPAN,
)
from cxj_processors.wire.fields import (
    REQUEST_RESOURCE_SPANS,
    RESOURCE_ATTRIBUTES,
    RESOURCE_SPANS_RESOURCE,
    RESOURCE_SPANS_SCOPE_SPANS,
    SCOPE_SPANS_SPANS,
)
from cxj_processors.wire.jit import allocating, walker
from cxj_processors.wire.spans import parse_span
from cxj_processors.wire.strings import KeySet, hash_slices
from cxj_processors.wire.varint import WIRE_LEN, Buffer, State, fail, failed_in, read_field


@walker
def _parse_resource(  # noqa: PLR0917 (kernels take their arrays positionally)
    buf: Buffer,
    pos: int,
    end: int,
    row: int,
    keys: KeySet,
    attributes: AttributeColumns,
    state: State,
) -> int:
    """Parses one Resource's configured attributes into `row`; returns the next position or -1."""
    attribute = 0
    while pos < end:
        field, wire, _, start, pos = read_field(buf, pos, end, state)
        is_attribute = field == RESOURCE_ATTRIBUTES and wire == WIRE_LEN
        if is_attribute and pos >= 0:
            pos = parse_attribute(buf, start, pos, keys, row, attributes, state)
        if pos < 0:
            if is_attribute:
                state[STATE_ATTRIBUTE] = attribute
            return failed_in(state, MSG_RESOURCE)
        attribute += is_attribute
    return pos


@walker
def _parse_scope_spans(  # noqa: PLR0917 (kernels take their arrays positionally)
    buf: Buffer,
    pos: int,
    end: int,
    row: int,
    resource_row: int,
    spans: SpanColumns,
    keys: KeySet,
    attributes: AttributeColumns,
    state: State,
) -> int:
    """Parses one ScopeSpans' spans from span row `row` on; returns the next free row or -1."""
    index = 0
    while pos < end:
        field, wire, _, start, pos = read_field(buf, pos, end, state)
        is_span = field == SCOPE_SPANS_SPANS and wire == WIRE_LEN
        if is_span and pos >= 0:
            if row >= spans.kind.shape[0]:
                pos = fail(state, ERR_INTERNAL, start, row)  # the two passes disagree
            else:
                spans.resource_index[row] = resource_row
                pos = parse_span(buf, start, pos, row, spans, keys, attributes, state)
        if pos < 0:
            if is_span:
                state[STATE_SPAN] = index
            return failed_in(state, MSG_SCOPE_SPANS)
        row += is_span
        index += is_span
    return row


@walker
def _parse_resource_spans(  # noqa: PLR0917 (kernels take their arrays positionally)
    buf: Buffer,
    pos: int,
    end: int,
    row: int,
    resource_row: int,
    resource_keys: KeySet,
    resource_attributes: AttributeColumns,
    spans: SpanColumns,
    span_keys: KeySet,
    span_attributes: AttributeColumns,
    state: State,
) -> int:
    """Parses one ResourceSpans; returns the next free span row or -1."""
    scope = 0
    while pos < end:
        field, wire, _, start, pos = read_field(buf, pos, end, state)
        is_scope = field == RESOURCE_SPANS_SCOPE_SPANS and wire == WIRE_LEN
        if pos >= 0 and wire == WIRE_LEN:
            if is_scope:
                row = _parse_scope_spans(
                    buf,
                    start,
                    pos,
                    row,
                    resource_row,
                    spans,
                    span_keys,
                    span_attributes,
                    state,
                )
                pos = -1 if row < 0 else pos
            elif field == RESOURCE_SPANS_RESOURCE:
                pos = _parse_resource(
                    buf,
                    start,
                    pos,
                    resource_row,
                    resource_keys,
                    resource_attributes,
                    state,
                )
        if pos < 0:
            if is_scope:
                state[STATE_SCOPE_SPANS] = scope
            return failed_in(state, MSG_RESOURCE_SPANS)
        scope += is_scope
    return row


@walker
def _fill_request(  # noqa: PLR0917 (kernels take their arrays positionally)
    buf: Buffer,
    resource_keys: KeySet,
    resource_attributes: AttributeColumns,
    spans: SpanColumns,
    span_keys: KeySet,
    span_attributes: AttributeColumns,
    state: State,
) -> None:
    """Fills the columns sized by `count_request` (which found no error)."""
    resources = resource_attributes.hashes.shape[0]
    pos = 0
    end = buf.shape[0]
    # int(np.int64(0)), not 0: a literal would make numba compile a constant-specialised copy
    # of the callee besides the general one.
    resource_row = int(np.int64(0))
    row = int(np.int64(0))
    while pos < end:
        field, wire, _, start, pos = read_field(buf, pos, end, state)
        is_resource = field == REQUEST_RESOURCE_SPANS and wire == WIRE_LEN
        if is_resource and pos >= 0:
            if resource_row >= resources:
                pos = fail(state, ERR_INTERNAL, start, resource_row)  # the two passes disagree
            else:
                row = _parse_resource_spans(
                    buf,
                    start,
                    pos,
                    row,
                    resource_row,
                    resource_keys,
                    resource_attributes,
                    spans,
                    span_keys,
                    span_attributes,
                    state,
                )
                pos = -1 if row < 0 else pos
        if pos < 0:
            if is_resource:
                state[STATE_RESOURCE_SPANS] = resource_row
            failed_in(state, MSG_REQUEST)
            return
        resource_row += is_resource


@allocating
def decode_request(
    buf: Buffer,
    resource_keys: KeySet,
    span_keys: KeySet,
    state: State,
    hash_names: bool,
) -> tuple[AttributeColumns, SpanColumns, AttributeColumns]:
    """Decodes an ExportTraceServiceRequest into (resource attributes, spans, span attributes).

    Span names are hashed only when `hash_names` is set (their hash column reads 0 otherwise).

    On malformed input the state records why and where (see `errors`); the columns are then
    incomplete and must not be used.
    """
    resources, span_count = count_request(buf, state)
    resource_attributes = absent_attributes(resources, resource_keys.lengths.shape[0])
    spans = empty_spans(span_count)
    span_attributes = absent_attributes(span_count, span_keys.lengths.shape[0])
    if state[STATE_CODE] == 0:
        _fill_request(
            buf,
            resource_keys,
            resource_attributes,
            spans,
            span_keys,
            span_attributes,
            state,
        )
    if state[STATE_CODE] == 0:
        if hash_names:
            hash_slices(buf, spans.name_off, spans.name_len, spans.name_hash)
        else:
            spans.name_hash[:] = 0
    return resource_attributes, spans, span_attributes
