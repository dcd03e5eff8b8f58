"""The decoder's Python face: `SpanDecoder.decode(payload) -> SpanBatch`, one kernel call."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cxj_processors import compiled
from cxj_processors.wire.errors import STATE_CODE, WireFormatError, new_state
from cxj_processors.wire.strings import pack_keys
from cxj_processors.wire.traces import decode_request

_JIT_DISABLED = compiled.jit_disabled()

if sys.byteorder != "little":  # doubles are read by reinterpreting little-endian wire bytes
    raise ImportError("cxj_processors.wire needs a little-endian machine")


@dataclass(frozen=True)
class SpanBatch:
    """One request's spans as columns, plus the configured attributes of spans and resources.

    Rows: one resource row per ResourceSpans and one span row per Span, both in wire order
    (spans of all scopes flattened; `resource_index` points at the span's resource row).

    Attributes: column k of `*_attr_*` is the decoder's k-th resource or span key. A value is
    in exactly one form: string and bytes values as hash/off/len (a slice of `buffer`; hash
    never 0), int, double and bool values as `num` (bool as 0/1; hash 0, off -1). Absent keys,
    and array, kvlist or unset values, read hash 0, off -1, len 0, num NaN (so does a double
    that is NaN). When a key repeats, its last occurrence wins.

    Spans: ids are big-endian integers, 0 when empty; an absent name is empty (its hash is
    that of the empty string; every name hash is 0 when the decoder does not hash names);
    times are the fixed64 bits as int64; `kind` and `status_code` keep the wire value when
    it fits an int8, else read -1.
    """

    buffer: npt.NDArray[np.uint8]
    resource_attr_hash: npt.NDArray[np.uint64]
    resource_attr_off: npt.NDArray[np.int64]
    resource_attr_len: npt.NDArray[np.int32]
    resource_attr_num: npt.NDArray[np.float64]
    resource_index: npt.NDArray[np.int32]
    trace_id_hi: npt.NDArray[np.uint64]
    trace_id_lo: npt.NDArray[np.uint64]
    span_id: npt.NDArray[np.uint64]
    parent_span_id: npt.NDArray[np.uint64]
    name_hash: npt.NDArray[np.uint64]
    name_off: npt.NDArray[np.int64]
    name_len: npt.NDArray[np.int32]
    kind: npt.NDArray[np.int8]
    start_ns: npt.NDArray[np.int64]
    end_ns: npt.NDArray[np.int64]
    status_code: npt.NDArray[np.int8]
    span_attr_hash: npt.NDArray[np.uint64]
    span_attr_off: npt.NDArray[np.int64]
    span_attr_len: npt.NDArray[np.int32]
    span_attr_num: npt.NDArray[np.float64]

    def __len__(self) -> int:
        """The number of spans."""
        return int(self.span_id.shape[0])

    def string(self, off: int, length: int) -> str:
        """Decodes the UTF-8 slice buffer[off:off + length] ("" when off is -1, i.e. absent)."""
        if off < 0:
            return ""
        return bytes(self.buffer[off : off + length]).decode("utf-8", errors="replace")


class SpanDecoder:
    """Decodes OTLP ExportTraceServiceRequest bytes into a `SpanBatch`, in native code.

    Decoding holds no state between calls and releases the GIL, so one decoder can serve
    several threads. It checks what it reads and skips the rest: the inside of messages it
    does not need (scopes, events, links, unknown fields) and the UTF-8 of strings are not
    validated, so it accepts some payloads that protobuf would refuse. It refuses two things
    protobuf accepts: trace or span ids of the wrong size, and groups (unused by OTLP).

    Args:
        resource_keys: resource attribute keys to extract, in column order.
        span_keys: span attribute keys to extract, in column order.
        hash_names: whether to hash span names (`name_hash`); when off, the column reads 0
            and decoding is a little faster. Names stay readable through `name_off`/`name_len`.

    Raises:
        ValueError: a key is empty or listed twice.
    """

    def __init__(
        self, resource_keys: Sequence[str], span_keys: Sequence[str], *, hash_names: bool = True
    ) -> None:
        self.resource_keys = tuple(resource_keys)
        self.hash_names = hash_names
        self.span_keys = tuple(span_keys)
        self._resource_keyset = pack_keys(resource_keys, "resource_keys")
        self._span_keyset = pack_keys(span_keys, "span_keys")

    def decode(self, payload: bytes | bytearray | memoryview) -> SpanBatch:
        """Decodes one request; an empty payload is an empty request.

        Raises:
            WireFormatError: the payload is not a well-formed request; the error names the
                byte offset and where in the request it is.
        """
        buffer = _as_buffer(payload)
        state = new_state()
        keys = (self._resource_keyset, self._span_keyset)
        if _JIT_DISABLED:  # plain-Python kernels: NumPy would warn on the hashes' overflow
            with np.errstate(over="ignore"):
                resources, spans, span_attrs = decode_request(buffer, *keys, state, self.hash_names)
        else:
            resources, spans, span_attrs = decode_request(buffer, *keys, state, self.hash_names)
        if state[STATE_CODE] != 0:
            raise WireFormatError.from_state(state)
        return SpanBatch(
            buffer=buffer,
            resource_attr_hash=resources.hashes,
            resource_attr_off=resources.offsets,
            resource_attr_len=resources.lengths,
            resource_attr_num=resources.numbers,
            resource_index=spans.resource_index,
            trace_id_hi=spans.trace_id_hi,
            trace_id_lo=spans.trace_id_lo,
            span_id=spans.span_id,
            parent_span_id=spans.parent_span_id,
            name_hash=spans.name_hash,
            name_off=spans.name_off,
            name_len=spans.name_len,
            kind=spans.kind,
            start_ns=spans.start_ns,
            end_ns=spans.end_ns,
            status_code=spans.status_code,
            span_attr_hash=span_attrs.hashes,
            span_attr_off=span_attrs.offsets,
            span_attr_len=span_attrs.lengths,
            span_attr_num=span_attrs.numbers,
        )


def _as_buffer(payload: bytes | bytearray | memoryview) -> npt.NDArray[np.uint8]:
    """A read-only uint8 view of the payload.

    Mutable payloads are copied, so that the batch's string slices cannot change under it.
    """
    if isinstance(payload, bytes):
        return np.frombuffer(payload, dtype=np.uint8)
    view = memoryview(payload)
    data = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.flags.writeable:
        buffer = buffer.copy()
        buffer.flags.writeable = False
    return buffer
