"""OTLP protobuf bytes to columnar NumPy arrays: the processor's hot-path trace decoder.

`SpanDecoder(resource_keys, span_keys).decode(payload)` returns a `SpanBatch` of columns
without creating a Python object per span; malformed input raises `WireFormatError`.
"""

from __future__ import annotations

from cxj_processors.wire.batch import SpanBatch, SpanDecoder
from cxj_processors.wire.errors import WireFormatError
from cxj_processors.wire.strings import fnv1a64

__all__ = ["SpanBatch", "SpanDecoder", "WireFormatError", "fnv1a64"]
