"""The column arrays the kernels fill: one row per resource or span, allocated before filling."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from cxj_processors.wire.jit import allocating


class AttributeColumns(NamedTuple):
    """One column per configured key, one row per resource or span."""

    hashes: npt.NDArray[np.uint64]
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int32]
    numbers: npt.NDArray[np.float64]


class SpanColumns(NamedTuple):
    """The fixed per-span fields, one row per span."""

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


@allocating
def absent_attributes(rows: int, keys: int) -> AttributeColumns:
    """Attribute columns with every value absent: hash 0, offset -1, length 0, number NaN."""
    return AttributeColumns(
        np.zeros((rows, keys), dtype=np.uint64),
        np.full((rows, keys), -1, dtype=np.int64),
        np.zeros((rows, keys), dtype=np.int32),
        np.full((rows, keys), np.nan, dtype=np.float64),
    )


@allocating
def empty_spans(rows: int) -> SpanColumns:
    """Uninitialised span columns: the decoder writes every field of every row."""
    return SpanColumns(
        np.empty(rows, dtype=np.int32),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.uint64),
        np.empty(rows, dtype=np.int64),
        np.empty(rows, dtype=np.int32),
        np.empty(rows, dtype=np.int8),
        np.empty(rows, dtype=np.int64),
        np.empty(rows, dtype=np.int64),
        np.empty(rows, dtype=np.int8),
    )
