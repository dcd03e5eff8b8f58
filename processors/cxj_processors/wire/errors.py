"""Why and where an OTLP payload was rejected: the kernels' error state and its readable form."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# The kernels cannot raise rich exceptions, so they record the first failure in a small int64
# state array and return -1; `WireFormatError.from_state` turns it into a message.
STATE_CODE = 0  # one of the ERR_* codes below; 0 while all is well
STATE_OFFSET = 1  # byte offset in the payload where the bad element starts
STATE_DETAIL = 2  # a number the message quotes (a length, a wire type, a field number)
STATE_MESSAGE = 3  # MSG_* kind of the innermost message being parsed
STATE_RESOURCE_SPANS = 4  # index of the ResourceSpans, -1 if not inside one
STATE_SCOPE_SPANS = 5  # index of the ScopeSpans within its ResourceSpans
STATE_SPAN = 6  # index of the Span within its ScopeSpans
STATE_ATTRIBUTE = 7  # index of the KeyValue within its attribute list
STATE_WARM = 8  # scratch for the cache-warming scan (see counting._warm)
STATE_SIZE = 9

ERR_TRUNCATED_VARINT = 1
ERR_OVERLONG_VARINT = 2
ERR_TAG_TOO_LARGE = 3
ERR_FIELD_ZERO = 4
ERR_GROUP = 5
ERR_BAD_WIRE_TYPE = 6
ERR_LENGTH_PAST_END = 7
ERR_FIXED_PAST_END = 8
ERR_TRACE_ID_LENGTH = 9
ERR_SPAN_ID_LENGTH = 10
ERR_PARENT_SPAN_ID_LENGTH = 11
ERR_INTERNAL = 12

MSG_REQUEST = 1
MSG_RESOURCE_SPANS = 2
MSG_RESOURCE = 3
MSG_SCOPE_SPANS = 4
MSG_SPAN = 5
MSG_STATUS = 6
MSG_KEY_VALUE = 7
MSG_ANY_VALUE = 8

_DESCRIPTIONS = {
    ERR_TRUNCATED_VARINT: "varint runs past the end of its message",
    ERR_OVERLONG_VARINT: "varint longer than 10 bytes",
    ERR_TAG_TOO_LARGE: "field tag does not fit in 32 bits",
    ERR_FIELD_ZERO: "field number 0 is not allowed",
    ERR_GROUP: "group wire type {detail} (groups are not part of OTLP)",
    ERR_BAD_WIRE_TYPE: "invalid wire type {detail}",
    ERR_LENGTH_PAST_END: (
        "length-delimited field of {detail} bytes runs past the end of its message"
    ),
    ERR_FIXED_PAST_END: "fixed-size field of {detail} bytes runs past the end of its message",
    ERR_TRACE_ID_LENGTH: "trace_id must be 16 bytes or empty, got {detail}",
    ERR_SPAN_ID_LENGTH: "span_id must be 8 bytes or empty, got {detail}",
    ERR_PARENT_SPAN_ID_LENGTH: "parent_span_id must be 8 bytes or empty, got {detail}",
    ERR_INTERNAL: "decoder bug: its two passes disagree (row {detail}); please report it",
}

_MESSAGE_NAMES = {
    MSG_REQUEST: "ExportTraceServiceRequest",
    MSG_RESOURCE_SPANS: "ResourceSpans",
    MSG_RESOURCE: "Resource",
    MSG_SCOPE_SPANS: "ScopeSpans",
    MSG_SPAN: "Span",
    MSG_STATUS: "Status",
    MSG_KEY_VALUE: "KeyValue",
    MSG_ANY_VALUE: "AnyValue",
}

_FIX = (
    "the payload is not a valid OTLP ExportTraceServiceRequest: check the sender's protobuf "
    "encoding and that a compressed body was sent with its Content-Encoding"
)


_FRESH_STATE = np.array([0, 0, 0, 0, -1, -1, -1, -1, 0], dtype=np.int64)
assert _FRESH_STATE.shape == (STATE_SIZE,)


def new_state() -> npt.NDArray[np.int64]:
    """A fresh error state for one decode: no error, not inside any message."""
    return _FRESH_STATE.copy()


class WireFormatError(ValueError):
    """Malformed protobuf: the message says what, in which message, and at which byte offset.

    Attributes:
        offset: byte offset in the payload where the offending element starts.
        path: where in the request it sits, e.g. ``resource_spans[2].scope_spans[0].spans[7]``.
    """

    def __init__(self, message: str, offset: int, path: str = "") -> None:
        super().__init__(message)
        self.offset = offset
        self.path = path

    @classmethod
    def from_state(cls, state: npt.NDArray[np.int64]) -> WireFormatError:
        """Builds the error a kernel recorded in its state array."""
        code = int(state[STATE_CODE])
        offset = int(state[STATE_OFFSET])
        detail = int(state[STATE_DETAIL])
        what = _DESCRIPTIONS.get(code, f"error {code}").format(
            detail=detail if detail >= 0 else "2^62 or more"
        )
        path = _path(state)
        kind = _MESSAGE_NAMES.get(int(state[STATE_MESSAGE]), "ExportTraceServiceRequest")
        where = f"{path} ({kind})" if path else kind
        return cls(f"{where}: {what} at byte {offset}; {_FIX}", offset, path)


def _path(state: npt.NDArray[np.int64]) -> str:
    """Formats the indices in the state as resource_spans[r].scope_spans[s].spans[k]...."""
    kind = int(state[STATE_MESSAGE])
    resource_spans = int(state[STATE_RESOURCE_SPANS])
    scope_spans = int(state[STATE_SCOPE_SPANS])
    span = int(state[STATE_SPAN])
    attribute = int(state[STATE_ATTRIBUTE])
    parts: list[str] = []
    if resource_spans >= 0:
        parts.append(f"resource_spans[{resource_spans}]")
    if kind == MSG_RESOURCE or (kind in (MSG_KEY_VALUE, MSG_ANY_VALUE) and span < 0):
        parts.append("resource")
    if scope_spans >= 0:
        parts.append(f"scope_spans[{scope_spans}]")
    if span >= 0:
        parts.append(f"spans[{span}]")
    if kind == MSG_STATUS:
        parts.append("status")
    if attribute >= 0:
        parts.append(f"attributes[{attribute}]")
    if kind == MSG_ANY_VALUE:
        parts.append("value")
    return ".".join(parts)
