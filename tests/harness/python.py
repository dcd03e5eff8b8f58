"""Running a Python snippet in a fresh interpreter, for settings that hold per process.

Kernel selection (NUMBA_DISABLE_JIT, CXJ_KERNELS), allocator settings and NumPy's huge-page
switch are read or changed once per process, so tests of them run in one of their own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

from tests.harness.processes import REPO


def run_python(
    script: str, *args: str, env: Mapping[str, str | None] | None = None, timeout: float = 600
) -> str:
    """Runs `python -c script args` from the repository root and returns its stdout.

    `env` sets variables over this process's environment; a None value removes one. A
    failing snippet fails the test with the end of its stderr.
    """
    environment = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
