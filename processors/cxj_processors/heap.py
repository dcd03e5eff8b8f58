"""Handing freed heap memory back to the operating system (an adapter over the C library).

Each request's columns are allocated and freed by the decoder and kernels. The C library
keeps freed blocks for reuse, spread over one arena per thread that served a request, so a
long-running processor's resident memory creeps up to the high-water mark of its busiest
moment. Trimming once per evaluation returns what is free; on C libraries without
`malloc_trim` it does nothing.

One setting of the C library's allocator, made once when the service starts, keeps the
steady state lower still (about 17 MB with 2,000 series): a fixed mmap threshold of 4 MiB.
The store's rings are arrays of tens of MB. By default the threshold rises after each free
of a large block (up to 32 MB), so after the store has grown once its next arrays come from
the heap: calloc then writes zeros over their whole capacity, and the old arrays' space
stays in the heap. Above a fixed threshold every such array is a mapping of its own,
returned whole when freed, and capacity not yet written is never resident. A request's
buffers (a few MB at most) stay below it.

A MALLOC_MMAP_THRESHOLD_ the user sets wins. (Limiting the arenas, one per thread that
allocates, saved another 4 MB but made no difference the benchmark could tell from noise
in either direction, so it is left to MALLOC_ARENA_MAX.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

MMAP_THRESHOLD_BYTES = 4 * 2**20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in the GNU C library


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _libc_function(name: str) -> Callable[..., int] | None:
    """A function of the C library, None where there is no such function."""
    function: Callable[..., int] | None = getattr(_libc(), name, None)
    return function


def configure_allocator(environ: Mapping[str, str] = os.environ) -> dict[str, int]:
    """Sets the mmap threshold (see above); returns what it set."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return {}
    chosen = {}
    if "MALLOC_MMAP_THRESHOLD_" not in environ and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES):
        chosen["mmap_threshold_bytes"] = MMAP_THRESHOLD_BYTES
    return chosen


def release_free_memory() -> bool:
    """Returns free heap pages to the system; whether the C library could do it."""
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim(0)
    return True


@contextmanager
def without_huge_pages() -> Iterator[None]:
    """NumPy arrays allocated inside use ordinary pages, for arrays written only in places.

    NumPy asks the kernel for transparent huge pages for every array of 4 MB or more, so
    the first write anywhere in a 2 MB stretch makes all of it resident. The store's MOS
    histograms are such an array: a row per series, written only by series with voice, which
    in a mix of journey types sit a few rows apart, so with huge pages the whole array is
    resident (about 17 of 20 MB with 2,000 series, a quarter of them voice); with ordinary
    pages only the voice rows are (about 5 MB). Without NumPy's switch this does nothing.
    """
    from numpy._core import multiarray

    switch: Any = getattr(multiarray, "_set_madvise_hugepage", None)
    if switch is None:
        yield
        return
    previous = switch(False)
    try:
        yield
    finally:
        switch(previous)
