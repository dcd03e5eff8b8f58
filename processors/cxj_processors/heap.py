"""Handing freed heap memory back to the operating system (an adapter over the C library).

Each request's columns are allocated and freed by the decoder and kernels. The C library
keeps freed blocks for reuse, spread over one arena per thread that served a request, so a
long-running processor's resident memory creeps up to the high-water mark of its busiest
moment. Trimming once per evaluation returns what is free; on C libraries without
`malloc_trim` it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache


@cache
def _trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return function


def release_free_memory() -> bool:
    """Returns free heap pages to the system; whether the C library could do it."""
    trim = _trim()
    if trim is None:
        return False
    trim(0)
    return True
