"""Numba kernels of the windows and baselines, and how all of them are compiled (decided here).

Every kernel takes and returns NumPy arrays of explicit dtypes and does no I/O (the ingest
kernel updates the store's ring arrays in place). They are compiled with `kernel`,
`in_place` for loops that allocate nothing, or, for small per-run helpers, `inlined` below,
so the compilation options live in one place:

* `FASTMATH` is off. The kernels test for NaN (a run without voice data, a baseline without
  enough samples) and fastmath lets the compiler assume no NaN exists, which silently breaks
  those tests; the sums here are memory-bound anyway, so fastmath would buy nothing.
* `cache=True`: the first call on a machine compiles, later processes load the machine code.
  Numba keys a kernel's cache on its own source file, so after editing a helper or a layout
  constant in another module of this package, delete `kernels/__pycache__/*.nb[ic]`.
* `nogil=True`: the processor may evaluate on a worker thread while the event loop runs.

Setting `NUMBA_DISABLE_JIT=1` runs the same functions as plain Python (tests do, to check
that the reference semantics do not depend on compilation). When the kernels were compiled
ahead of time (`cxj_processors.compiled`), the decorators hand out those instead and numba is
never imported.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from cxj_processors import compiled

FASTMATH = False

Kernel = TypeVar("Kernel", bound=Callable[..., Any])


def kernel(function: Kernel) -> Kernel:
    """Compiles a kernel with the package's one set of options."""
    return cast(Kernel, compiled.njit(function, cache=True, nogil=True, fastmath=FASTMATH))


def in_place(function: Kernel) -> Kernel:
    """A kernel that allocates nothing, only reads and writes the arrays it is given.

    It is compiled without NumPy refcounting: with it, every array a per-run helper takes
    is increfed and decrefed (atomically) on each call, inlined or not. Python never calls
    one directly: the module compiled ahead of time compiles the kernels Python calls with
    refcounting on, whatever their options, so Python calls a `kernel` that allocates any
    outputs and hands its arrays to the `in_place` one, which runs the loop.
    """
    return cast(
        Kernel,
        compiled.njit(function, cache=True, nogil=True, fastmath=FASTMATH, _nrt=False),
    )


def inlined(function: Kernel) -> Kernel:
    """A small helper kernel, inlined into each kernel that calls it (numba IR inlining).

    Per-run helpers called as real functions pass every array as a struct and, with NumPy
    refcounting on, incref and decref each one: inlining removes that from the hot loop.
    """
    return cast(
        Kernel,
        compiled.njit(function, cache=True, nogil=True, fastmath=FASTMATH, inline="always"),
    )
