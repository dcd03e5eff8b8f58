"""Software prefetch for kernels that visit rows of large arrays in data-dependent order.

The robust baselines keep one row per component; a request touches a few thousand of them
in whatever order series arrive, megabytes apart, so a visit that jumps to another series
is a cache miss the loop then waits on. A kernel that knows which row it will visit a few
iterations ahead asks for it now (LLVM's `llvm.prefetch`, a hint that never faults and
changes no value), and the miss overlaps with the work in between.

With `NUMBA_DISABLE_JIT=1` the hint is a no-op; the kernels compiled ahead of time get it
from the JIT build they are compiled by.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from cxj_processors import compiled
from cxj_processors.kernels import inlined

CACHE_LINE = 64
# Iterations ahead a kernel asks for its row: far enough for a miss to memory to arrive,
# near enough for the line to still be in cache when the loop gets there.
AHEAD = 8

_WRITE = 1  # the rows asked for are about to be updated
_KEEP_IN_ALL_LEVELS = 3
_DATA = 1


def _prefetch_codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
    from llvmlite import ir  # type: ignore[import-untyped]
    from numba.core import cgutils

    array, row, offset = args
    view = context.make_array(signature.args[0])(context, builder, array)
    row_stride = builder.extract_value(view.strides, 0)
    byte = ir.IntType(8).as_pointer()
    start = builder.add(builder.mul(row, row_stride), offset)
    address = builder.gep(builder.bitcast(view.data, byte), [start])
    int32 = ir.IntType(32)
    hint = cgutils.get_or_insert_function(  # type: ignore[no-untyped-call]
        builder.module,
        ir.FunctionType(ir.VoidType(), [byte, int32, int32, int32]),
        "llvm.prefetch.p0",
    )
    builder.call(hint, [address, int32(_WRITE), int32(_KEEP_IN_ALL_LEVELS), int32(_DATA)])
    return context.get_dummy_value()


if compiled.jit_disabled() or compiled.loaded() is not None:

    def _prefetch_line(array: npt.NDArray[Any], row: int, offset: int) -> None:
        """No-op without the JIT (and never called from Python under compiled kernels)."""

else:
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch_line(typingctx: Any, array: Any, row: Any, offset: Any) -> Any:
        """Asks for the cache line at byte `offset` of row `row` (no bounds check)."""
        if not (
            isinstance(array, types.Array)
            and array.ndim == 2
            and isinstance(row, types.Integer)
            and isinstance(offset, types.Integer)
        ):
            return None
        return types.void(array, types.intp, types.intp), _prefetch_codegen


@inlined
def prefetch_row(array: npt.NDArray[np.generic], row: int) -> None:
    """Asks for every cache line of array[row] (a row of a 2-D array), for writing.

    Rows need not be aligned to cache lines, so the line holding the row's last byte is
    asked for as well. A row outside the array is ignored.
    """
    if row < 0 or row >= array.shape[0]:
        return
    size = array.shape[1] * array.itemsize
    for offset in range(0, size, CACHE_LINE):
        _prefetch_line(array, row, offset)
    _prefetch_line(array, row, size - 1)
