"""A short, bounded run of the wire decoder's fuzz target, so CI catches what it finds quickly.

The full campaign (`python tests/fuzz/fuzz_wire_traces.py -runs=1000000`) runs outside CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fuzz.fuzz_wire_traces import one_input
from tests.harness.processes import REPO

TARGET = REPO / "tests" / "fuzz" / "fuzz_wire_traces.py"


@pytest.mark.parametrize(
    "jit_disabled", ["1", "0"], ids=["plain-python-coverage-guided", "compiled-kernels"]
)
def test_twenty_thousand_fuzz_inputs_find_nothing(jit_disabled: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(TARGET), "-runs=20000", "-seed=7", "-max_len=2048"],
        cwd=tmp_path,  # where libFuzzer would write a crash-* reproducer
        env=dict(os.environ, NUMBA_DISABLE_JIT=jit_disabled),
        capture_output=True,
        text=True,
        timeout=480,  # the compiled run may have to compile the kernels first
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done 20000 runs" in result.stderr


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_the_fuzz_target_accepts_arbitrary_bytes_in_process(data: bytes) -> None:
    one_input(data)
