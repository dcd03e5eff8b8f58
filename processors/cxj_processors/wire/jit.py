"""How the decoder's kernels are compiled and cached, decided once for all of them.

Numba compiles each kernel separately: a call between kernels is a real call that passes
every array as a struct and, with NumPy refcounting (NRT) on, increfs and decrefs each one.
At ~20 ns per call that would dominate a per-field hot path, so small kernels are inlined
into their callers and the kernels that walk messages run without refcounting (they never
allocate). Only the entry kernel, which allocates the columns, keeps NRT.

Every kernel is cached on disk (`cache=True`): the first call on a machine compiles (minutes:
inlining makes large functions), later processes load the machine code in well under a
second. Numba stamps a kernel's cache with its own source file only, yet a kernel contains
the code of the kernels it inlines or calls from other modules; so this package stamps every
kernel with all of its source files, and an edit anywhere recompiles everything. Cache files
of earlier versions stay behind in `__pycache__`; deleting them is always safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, cast

from cxj_processors import compiled

Kernel = TypeVar("Kernel", bound=Callable[..., Any])

_PACKAGE = Path(__file__).resolve().parent


def inlined(function: Kernel) -> Kernel:
    """A small kernel, inlined into each kernel that calls it (numba IR inlining)."""
    return cast(Kernel, compiled.njit(function, cache=True, nogil=True, inline="always"))


def walker(function: Kernel) -> Kernel:
    """A kernel that walks messages and allocates nothing: compiled without refcounting."""
    return cast(Kernel, compiled.njit(function, cache=True, nogil=True, _nrt=False))


def allocating(function: Kernel) -> Kernel:
    """A kernel that allocates arrays (and so needs NumPy refcounting)."""
    return cast(Kernel, compiled.njit(function, cache=True, nogil=True))


@cache
def _package_stamp() -> str:
    """A digest of every source file of this package."""
    digest = hashlib.sha256()
    for source in sorted(_PACKAGE.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _stamped_by_package(locator: type[Any]) -> type[Any]:
    """A variant of a numba cache locator for this package's files only.

    It stamps their kernels with the digest of the whole package.
    """

    class PackageLocator(locator):  # type: ignore[misc]
        def get_source_stamp(self) -> str:
            return _package_stamp()

        def get_disambiguator(self) -> str:
            # In the file name too: numba unpickles an index before it checks the stamp, and
            # an index from another version can name a class that no longer exists.
            return f"{super().get_disambiguator()}-{_package_stamp()[:12]}"

        @classmethod
        def from_function(cls, py_func: Callable[..., Any], py_file: str) -> Any:
            if Path(py_file).resolve().parent != _PACKAGE:
                return None
            return super().from_function(py_func, py_file)

    PackageLocator.__name__ = PackageLocator.__qualname__ = f"Package{locator.__name__}"
    return PackageLocator


def _install_locators() -> None:
    """Puts this package's locators in front of the standard ones they derive from.

    Numba picks the first locator that accepts a function's file; ours accept only this
    package's files.
    """
    from numba.core import caching

    caching.CacheImpl._locator_classes[:0] = [
        _stamped_by_package(caching.UserProvidedCacheLocator),
        _stamped_by_package(caching.InTreeCacheLocator),
        _stamped_by_package(caching.UserWideCacheLocator),
    ]


if compiled.loaded() is None:
    _install_locators()
