"""The kernels compiled ahead of time, and the choice between them and numba's JIT.

numba compiles a kernel the first time it runs, or loads its machine code from numba's cache;
either way the process holds numba and LLVM, about 100 MB of the processor's memory that
serves no purpose once the kernels are loaded. `python -m cxj_processors.compiled.build`
compiles every kernel the processor calls from Python into one extension module, ahead of
time; a process that finds that module runs it and never imports numba.

`CXJ_KERNELS` chooses:

* `auto` (default): the compiled module if one built from exactly these sources is in the
  kernels folder, numba's JIT otherwise;
* `jit`: numba's JIT (and its cache) even when the module exists;
* `compiled`: the compiled module, and an error naming the folder if it is not there.

`NUMBA_DISABLE_JIT=1` means plain Python, so it implies `jit`. The folder is
`CXJ_KERNELS_DIR`, by default `$XDG_CACHE_HOME/cxjourney/kernels` (`~/.cache/...`). A module
is found by a digest of every source file of this package and of the Python, NumPy and numba
versions, so an edit anywhere falls back to the JIT until the module is rebuilt.

A compiled kernel trusts its arguments: an array of another dtype or layout would be read as
raw memory. So each one is called through a guard that checks every argument against the
types it was compiled for (recorded next to the module) and raises TypeError naming the
kernel and the argument otherwise.

A compiled kernel that returns an array unpickles the array's dtype on every call (numba's
helper in the module calls `pickle.loads` each time, where the JIT remembers what it
unpickled). The helper looks `pickle.loads` up once, when the module is imported, so the
module is imported while `pickle.loads` is a version that remembers immutable constants:
each is then unpickled once.

This module imports neither numba nor anything that does.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import importlib.util
import json
import os
import pickle
import platform
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

MODES = ("auto", "jit", "compiled")
PACKAGE = Path(__file__).resolve().parent.parent
_PREFIX = "cxj_processors."


class KernelsUnavailable(RuntimeError):
    """CXJ_KERNELS=compiled, but no compiled module matches these sources."""


def mode(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The CXJ_KERNELS setting, validated."""
    chosen = environ.get("CXJ_KERNELS", "auto").strip().lower() or "auto"
    if chosen not in MODES:
        raise ValueError(f"CXJ_KERNELS: must be one of {', '.join(MODES)}, got {chosen!r}")
    if jit_disabled(environ):
        return "jit"
    return chosen


def folder(environ: dict[str, str] | os._Environ[str] = os.environ) -> Path:
    """Where compiled modules are kept."""
    if environ.get("CXJ_KERNELS_DIR"):
        return Path(environ["CXJ_KERNELS_DIR"])
    cache_home = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "cxjourney" / "kernels"


@cache
def source_digest() -> str:
    """A digest of this package's sources and of the versions the machine code depends on."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(source.relative_to(PACKAGE)).encode() + b"\0" + source.read_bytes())
    for name in ("numba", "numpy", "llvmlite"):
        digest.update(f"{name}={importlib.metadata.version(name)}\0".encode())
    digest.update(f"{sys.version}\0{platform.machine()}".encode())
    return digest.hexdigest()


def module_name() -> str:
    """The extension module's name, which carries the source digest."""
    return f"cxj_kernels_{source_digest()[:16]}"


def module_path(base: Path) -> Path:
    """The extension module's file in `base`."""
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return base / f"{module_name()}{suffix}"


def manifest_path(base: Path) -> Path:
    """The file in `base` recording the argument types of every kernel in the module."""
    return base / f"{module_name()}.json"


def jit_disabled(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """NUMBA_DISABLE_JIT is set: kernels run as plain Python."""
    return environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0")


def symbol(function: Callable[..., Any]) -> str:
    """The name a kernel is exported under: its module path below the package and its name."""
    module = function.__module__.removeprefix(_PREFIX)
    return f"{module}.{function.__qualname__}".replace(".", "__")


# -- the guard --------------------------------------------------------------------------
# An argument's recorded type: ["array", dtype, ndim, contiguous, readonly], ["int"],
# ["float"], ["bool"] or ["tuple", [types of the members]].
Check = Callable[[Any], bool]


# NumPy's array flag bits (ndarray.flags.num), as in numpy/ndarraytypes.h.
_C_CONTIGUOUS, _ALIGNED, _WRITEABLE = 0x1, 0x100, 0x400


def _array_spec(recorded: Sequence[Any]) -> tuple[np.dtype[Any], int, int]:
    """(dtype, ndim, flag bits required) of a recorded array type."""
    required = _ALIGNED | (_C_CONTIGUOUS if recorded[3] else 0) | (0 if recorded[4] else _WRITEABLE)
    return np.dtype(recorded[1]), int(recorded[2]), required


def _checker(recorded: Sequence[Any]) -> Check:
    kind = recorded[0]
    if kind == "array":
        dtype, ndim, required = _array_spec(recorded)
        ndarray = np.ndarray

        def array(value: Any) -> bool:
            # One read of the flag bits: the flags object's attributes cost more each.
            return (
                type(value) is ndarray
                and value.ndim == ndim
                and (value.dtype is dtype or value.dtype == dtype)
                and value.flags.num & required == required
            )

        return array
    if kind == "int":
        return lambda value: isinstance(value, int | np.integer) and not isinstance(value, bool)
    if kind == "float":
        return lambda value: isinstance(value, float | int | np.floating | np.integer)
    if kind == "bool":
        return lambda value: isinstance(value, bool | np.bool_)
    if kind == "tuple":
        members = [_checker(member) for member in recorded[1]]

        def members_match(value: Any) -> bool:
            if not (isinstance(value, tuple) and len(value) == len(members)):
                return False
            # A loop, not all() over a generator: this runs on every call of the kernel.
            for check, item in zip(members, value):  # noqa: B905, SIM110 - length checked
                if not check(item):
                    return False
            return True

        return members_match
    raise ValueError(f"unknown recorded argument type {recorded!r}")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        layout = "contiguous" if value.flags.c_contiguous else "strided"
        writable = "" if value.flags.writeable else ", read-only"
        aligned = "" if value.flags.aligned else ", unaligned"
        return f"{value.ndim}-d {value.dtype} array ({layout}{writable}{aligned})"
    return type(value).__name__


def guarded(
    name: str, function: Callable[..., Any], arguments: Sequence[Sequence[Any]]
) -> Callable[..., Any]:
    """`function` called only with arguments of the types it was compiled for.

    Arrays, most arguments, take one check each (type, dimensions, dtype and one read of
    the flag bits: about 0.2 µs); other arguments go through their checker.
    """
    checks = [_checker(recorded) for recorded in arguments]
    # Array checks are inlined in the loop below (a call per argument costs more than the
    # check); `checks` holds them too, for naming the argument that failed.
    specs = [_array_spec(recorded) if recorded[0] == "array" else None for recorded in arguments]
    count = len(checks)
    ndarray = np.ndarray

    def call(*values: Any) -> Any:
        if len(values) != count:
            raise TypeError(f"compiled kernel {name}: takes {count} arguments, got {len(values)}")
        for value, spec, check in zip(values, specs, checks):  # noqa: B905 - same length
            if spec is not None:
                dtype, ndim, required = spec
                if (
                    type(value) is ndarray
                    and value.ndim == ndim
                    and (value.dtype is dtype or value.dtype == dtype)
                    and value.flags.num & required == required
                ):
                    continue
            elif check(value):
                continue
            _refuse(name, arguments, checks, values)
        return function(*values)

    call.__name__ = call.__qualname__ = name
    return call


def _refuse(
    name: str, arguments: Sequence[Sequence[Any]], checks: Sequence[Check], values: Sequence[Any]
) -> None:
    """Raises the TypeError naming the first argument of `values` that fails its check."""
    for position, (check, value) in enumerate(zip(checks, values, strict=True)):
        if not check(value):
            raise TypeError(
                f"compiled kernel {name}: argument {position} must be "
                f"{_spell(arguments[position])}, got {_describe(value)}; "
                f"the caller passes other types than the module was built for, or run "
                f"with CXJ_KERNELS=jit"
            )


def _spell(recorded: Sequence[Any]) -> str:
    if recorded[0] == "array":
        layout = "contiguous" if recorded[3] else "any layout"
        return f"a {recorded[2]}-d {recorded[1]} array ({layout})"
    if recorded[0] == "tuple":
        return f"a tuple of ({', '.join(_spell(member) for member in recorded[1])})"
    return f"a {recorded[0]}"


# -- constants the compiled module unpickles --------------------------------------------
# What may be shared between calls: values no caller can change.
_IMMUTABLE = (np.dtype, type, str, bytes, int, float, complex, type(None))
_MISSING = object()


class RememberingLoads:
    """`pickle.loads` that unpickles each immutable constant once, then hands out the same one."""

    def __init__(self, loads: Callable[..., Any]) -> None:
        self._loads = loads
        self._known: dict[bytes, Any] = {}
        self.reused = 0  # how many unpicklings were saved

    def __call__(self, data: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Unpickles `data` as `pickle.loads` does, or returns what it gave for it before."""
        if args or kwargs or type(data) is not bytes:
            return self._loads(data, *args, **kwargs)
        value = self._known.get(data, _MISSING)
        if value is not _MISSING:
            self.reused += 1
            return value
        value = self._loads(data)
        if isinstance(value, _IMMUTABLE):
            self._known[data] = value
        return value


CONSTANTS = RememberingLoads(pickle.loads)


@contextmanager
def _remembering_constants() -> Iterator[None]:
    """`pickle.loads` is CONSTANTS while the compiled module is imported (and looks it up)."""
    original = pickle.loads
    pickle.loads = CONSTANTS
    try:
        yield
    finally:
        pickle.loads = original


# -- loading ----------------------------------------------------------------------------
@cache
def loaded() -> dict[str, Callable[..., Any]] | None:
    """Every compiled kernel by symbol, guarded; None when the JIT is to be used."""
    chosen = mode()
    if chosen == "jit":
        return None
    path = module_path(folder())
    manifest = manifest_path(folder())
    if not (path.is_file() and manifest.is_file()):
        if chosen == "compiled":
            raise KernelsUnavailable(
                f"CXJ_KERNELS=compiled but {path} is missing; build it with "
                f"`python -m cxj_processors.compiled.build` (or set CXJ_KERNELS_DIR)"
            )
        return None
    try:
        with _remembering_constants():
            module = _import(path)
        signatures: dict[str, list[list[Any]]] = json.loads(manifest.read_text())
        kernels = {
            name: guarded(name, getattr(module, name), args) for name, args in signatures.items()
        }
    except (ImportError, OSError, ValueError, AttributeError) as error:
        if chosen == "compiled":
            raise KernelsUnavailable(
                f"CXJ_KERNELS=compiled but {path} cannot be loaded ({error}); rebuild it with "
                f"`python -m cxj_processors.compiled.build --force`"
            ) from error
        warnings.warn(
            f"compiled kernels {path} cannot be loaded ({error}); running on numba's JIT",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return kernels


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name(), path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the compiled kernels from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def njit(function: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """`function` as a kernel: its compiled version, or numba's `njit(**options)` of it.

    Under the compiled module, a function it does not export (a helper that kernels inline)
    comes back as itself, plain Python: nothing on the hot path calls those from Python.
    numba is imported only when the JIT is used.
    """
    kernels = loaded()
    if kernels is not None:
        found: Callable[..., Any] = kernels.get(symbol(function), function)
        return found
    import numba

    jitted: Callable[..., Any] = numba.njit(**options)(function)
    return jitted


def describe() -> str:
    """Which machine code runs the kernels, for the processor's start-up log."""
    if loaded() is not None:
        return f"compiled ahead of time ({module_path(folder())})"
    if jit_disabled():
        return "plain Python (NUMBA_DISABLE_JIT)"
    if mode() == "jit":
        return "numba's JIT (CXJ_KERNELS=jit)"
    return (
        f"numba's JIT: no compiled module for these sources in {folder()} "
        f"(build one with `python -m cxj_processors.compiled.build` to save about 100 MB)"
    )
