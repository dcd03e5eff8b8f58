"""Compiles the processor's kernels ahead of time into one extension module.

    python -m cxj_processors.compiled.build [--folder DIR] [--cpu NAME] [--force]

The build runs the processor's warm-up on numba's JIT, which calls every kernel the
processor calls from Python with the argument types it calls it with, and then compiles
each of those kernels (and everything it calls or inlines) for exactly those types with
numba's ahead-of-time compiler. Next to the module it records the types, which the guard in
`cxj_processors.compiled` checks on every call. A kernel called with two sets of types is an
error here: the guard could only admit one.

Takes about as long as numba's first compile of the kernels (one to two minutes) and is
skipped when the folder already has the module for these sources.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cxj_processors import compiled

STALE_DAYS = 7.0


def _recorded(argument: Any) -> list[Any]:
    """An argument type as the guard reads it (see `cxj_processors.compiled`)."""
    from numba.core import types

    if isinstance(argument, types.Array):
        return [
            "array",
            str(argument.dtype),
            argument.ndim,
            argument.layout == "C",
            not argument.mutable,
        ]
    if isinstance(argument, types.Boolean):
        return ["bool"]
    if isinstance(argument, types.Integer):
        return ["int"]
    if isinstance(argument, types.Float):
        return ["float"]
    if isinstance(argument, types.BaseTuple):
        members = argument.types  # type: ignore[attr-defined]
        return ["tuple", [_recorded(member) for member in members]]
    raise TypeError(f"a compiled kernel cannot take an argument of type {argument}")


def entry_kernels() -> dict[str, Any]:
    """Every kernel of the package compiled so far in this process, by exported name."""
    from numba.core.registry import CPUDispatcher

    found: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("cxj_processors."):
            continue
        for value in vars(module).values():
            own = isinstance(value, CPUDispatcher) and value.py_func.__module__ == name
            if own and value.signatures:
                found[compiled.symbol(value.py_func)] = value
    return found


def _exports(kernels: dict[str, Any]) -> dict[str, Any]:
    """Each kernel's one full signature (argument and return types)."""
    exports = {}
    for name, dispatcher in sorted(kernels.items()):
        if len(dispatcher.signatures) != 1:
            listed = "; ".join(str(signature) for signature in dispatcher.signatures)
            raise SystemExit(
                f"kernel {name} was called with {len(dispatcher.signatures)} sets of argument "
                f"types ({listed}); make its callers pass one (np.ascontiguousarray with a dtype)"
            )
        exports[name] = dispatcher.overloads[dispatcher.signatures[0]].signature
    return exports


def _release_gil() -> None:
    """Compiled kernels release the GIL while they run, as the JIT's do (`nogil=True`)."""
    from numba.core.compiler import Flags
    from numba.pycc import compiler as pycc_compiler

    class NoGilFlags(Flags):
        def __init__(self, *copied: Any) -> None:
            super().__init__(*copied)  # type: ignore[no-untyped-call]
            if not copied:
                self.release_gil = True  # type: ignore[assignment]

    pycc_compiler.Flags = NoGilFlags  # type: ignore[attr-defined]


def build(target: Path, cpu: str) -> Path:
    """Compiles the module into `target`; returns its path."""
    from cxj_processors.config import ProcessorConfig
    from cxj_processors.pipeline import Pipeline

    started = time.monotonic()
    print("running the warm-up on the JIT to find every kernel and its types", flush=True)
    Pipeline(ProcessorConfig()).warm_up()
    exports = _exports(entry_kernels())
    print(f"compiling {len(exports)} kernels for cpu {cpu or 'generic'}", flush=True)

    from numba.pycc import CC  # type: ignore[attr-defined]

    _release_gil()
    name = compiled.module_name()
    with tempfile.TemporaryDirectory(prefix="cxj-kernels-") as scratch:
        cc = CC(name)  # type: ignore[no-untyped-call]
        cc.output_dir = scratch
        cc.target_cpu = cpu
        kernels = entry_kernels()
        for symbol, signature in exports.items():
            cc.export(symbol, signature)(kernels[symbol].py_func)  # type: ignore[no-untyped-call]
        cc.compile()
        built = Path(scratch) / compiled.module_path(Path(scratch)).name
        manifest = {
            symbol: [_recorded(argument) for argument in signature.args]
            for symbol, signature in exports.items()
        }
        target.mkdir(parents=True, exist_ok=True)
        # Into place by rename, manifest last: a reader finds both or neither complete.
        module_file = compiled.module_path(target)
        staged = target / f".{module_file.name}.{os.getpid()}"
        shutil.copyfile(built, staged)
        staged.replace(module_file)
        staged_manifest = target / f".{compiled.manifest_path(target).name}.{os.getpid()}"
        staged_manifest.write_text(json.dumps(manifest, indent=1))
        staged_manifest.replace(compiled.manifest_path(target))
    print(f"compiled kernels: {module_file} ({time.monotonic() - started:.0f} s)", flush=True)
    _remove_stale(target)
    return module_file


def _remove_stale(target: Path, keep_days: float = STALE_DAYS) -> None:
    """Deletes modules of other sources built more than `keep_days` ago.

    Every edit of the sources makes a new module (about 1.3 MB), so the folder would only
    grow. A process still running an old one keeps it mapped; the file can go.
    """
    current = {compiled.module_path(target).name, compiled.manifest_path(target).name}
    cutoff = time.time() - keep_days * 86400
    for path in target.glob("cxj_kernels_*"):
        if path.name not in current and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Builds the module unless the folder has it for these sources."""
    parser = argparse.ArgumentParser(
        prog="python -m cxj_processors.compiled.build",
        description="Compile the processor's kernels ahead of time.",
    )
    parser.add_argument(
        "--folder", type=Path, default=None, help="where to put the module (CXJ_KERNELS_DIR)"
    )
    parser.add_argument(
        "--cpu",
        default=os.environ.get("NUMBA_CPU_NAME", "host"),
        help="LLVM CPU name: host (default, or NUMBA_CPU_NAME), generic for any x86-64",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    # Before any kernel module is imported: the build itself runs on the JIT.
    os.environ["CXJ_KERNELS"] = "jit"
    target = args.folder or compiled.folder()
    built = compiled.module_path(target).is_file() and compiled.manifest_path(target).is_file()
    if built and not args.force:
        print(f"compiled kernels up to date: {compiled.module_path(target)}")
        return 0
    build(target, "" if args.cpu == "generic" else args.cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
