"""Seeding numba's compiled-kernel cache from a read-only copy shipped in the image.

Compiling the processor's kernels takes one to two minutes of CPU and over 1.5 GB of memory,
so images compile them at build time into a folder of their own. numba only uses a cache
folder it can write to, and containers run with a read-only root and a fresh /tmp; so before
anything imports a kernel, `cxj` copies the shipped files into NUMBA_CACHE_DIR (those not
there yet). Kernels are compiled for the CPU named by NUMBA_CPU_NAME at build time; the
image sets it to `generic` at build and run time so the cache fits any x86-64 node.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

SEED_VARIABLE = "CXJ_NUMBA_CACHE_SEED"


def seed_kernel_cache(environ: Mapping[str, str] = os.environ) -> int:
    """Copies the shipped kernel cache into NUMBA_CACHE_DIR; returns how many files it copied.

    Does nothing unless both variables name folders and the seed exists. A file already in
    the cache is kept. A copy that fails (a full or read-only disk) is reported on stderr and
    the kernels are then compiled as usual.
    """
    seed, target = environ.get(SEED_VARIABLE, ""), environ.get("NUMBA_CACHE_DIR", "")
    if not seed or not target or not Path(seed).is_dir():
        return 0
    copied = 0
    try:
        for source in Path(seed).rglob("*"):
            destination = Path(target) / source.relative_to(seed)
            if source.is_dir() or destination.exists():
                continue
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            copied += 1
    except OSError as error:
        print(
            f"warning: could not seed NUMBA_CACHE_DIR={target} from {SEED_VARIABLE}={seed}: "
            f"{error}; kernels will be compiled on first use (1-2 min of CPU)",
            file=sys.stderr,
        )
    return copied
