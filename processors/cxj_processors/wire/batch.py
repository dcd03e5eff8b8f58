"""The decoder's Python face: `SpanDecoder.decode(payload) -> SpanBatch`, one kernel call."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

from cxj_processors.wire.errors import STATE_CODE, WireFormatError, new_state
from cxj_processors.wire.strings import pack_keys
from cxj_processors.wire.traces import decode_request

if sys.byteorder != "little":  # doubles are read by reinterpreting little-endian wire bytes
    raise ImportError("cxj_processors.wire needs a little-endian machine")


@dataclass(frozen=True)
class SpanBatch:
    """One request's spans as columns, plus the configured attributes of spans and resources.

    String values are (offset, length) slices of `buffer`; `string()` decodes one. For every
    configured key, a value is in exactly one form: hash/off/len for strings and bytes, `num`
    (bool as 0/1) for int, double and bool values; an absent key has hash 0, off -1, len 0 and
    num NaN. Column k of `*_attr_*` is the decoder's k-th resource or span key.
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

    Args:
        resource_keys: resource attribute keys to extract, in column order.
        span_keys: span attribute keys to extract, in column order.

    Raises:
        ValueError: a key is empty or listed twice.
    """

    def __init__(self, resource_keys: Sequence[str], span_keys: Sequence[str]) -> None:
        self.resource_keys = tuple(resource_keys)
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
        if numba.config.DISABLE_JIT:  # plain-Python kernels: NumPy would warn on hash overflow
            with np.errstate(over="ignore"):
                resources, spans, span_attrs = self._decode(buffer, state)
        else:
            resources, spans, span_attrs = self._decode(buffer, state)
        if state[STATE_CODE] != 0:
            raise WireFormatError.from_state(state)
        return SpanBatch(
            buffer,
            resources.hashes,
            resources.offsets,
            resources.lengths,
            resources.numbers,
            *spans,
            span_attrs.hashes,
            span_attrs.offsets,
            span_attrs.lengths,
            span_attrs.numbers,
        )

    def _decode(self, buffer: npt.NDArray[np.uint8], state: npt.NDArray[np.int64]) -> tuple:  # type: ignore[type-arg]
        return decode_request(  # type: ignore[no-any-return]
            buffer,
            self._resource_keyset,
            self._span_keyset,
            state,
        )


def _as_buffer(payload: bytes | bytearray | memoryview) -> npt.NDArray[np.uint8]:
    """A read-only uint8 view of the payload; mutable payloads are copied so the batch's
    string slices cannot change under it.
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
