"""Fuzz target for the OTLP trace decoder: anything but a batch or a WireFormatError is a bug.

Inputs are raw bytes, bytes placed inside a valid request at some depth (so they reach the
inner parsers), and mutations of valid requests. Each decoded batch must be self-consistent
(every offset inside the payload, every resource index valid), and whenever the protobuf
library accepts the input, the decoder must extract exactly what the library parses.

By default the kernels run as plain Python, so atheris sees their branches (coverage-guided)
and NumPy checks every index:

    .venv/bin/python tests/fuzz/fuzz_wire_traces.py -runs=1000000

To fuzz the compiled kernels, with out-of-bounds reads turned into errors (this compiles a
separate, bounds-checked copy of the kernels in a throwaway cache, which takes minutes):

    NUMBA_DISABLE_JIT=0 NUMBA_BOUNDSCHECK=1 NUMBA_CACHE_DIR=$(mktemp -d) \\
        .venv/bin/python tests/fuzz/fuzz_wire_traces.py -runs=1000000
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

if __name__ == "__main__":
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")  # before numba is imported
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests` as a package

import atheris

PLAIN_PYTHON = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
# Atheris rewrites the bytecode it instruments, which numba cannot compile: compiled kernels
# are fuzzed uninstrumented (libFuzzer then only sees the Python-level branches).
if PLAIN_PYTHON:
    with atheris.instrument_imports(include=["cxj_processors.wire"]):
        importlib.import_module("cxj_processors.wire")

from cxj_processors.wire import SpanBatch, WireFormatError  # noqa: E402
from tests.unit.test_wire_traces import (  # noqa: E402
    LEVELS,
    SAMPLE,
    assert_agrees_with_library,
    decode,
    nest,
)

SEEDS = (SAMPLE, nest(SAMPLE, "request")[0] * 2, b"")


def assert_consistent(batch: SpanBatch) -> None:
    """Every index and slice in a batch points inside it."""
    size = batch.buffer.shape[0]
    spans = len(batch)
    resources = batch.resource_attr_hash.shape[0]
    assert all(len(getattr(batch, name)) == spans for name in ("trace_id_hi", "kind", "end_ns"))
    assert spans == 0 or 0 <= batch.resource_index.min() <= batch.resource_index.max() < resources
    assert ((batch.name_off >= 0) & (batch.name_off + batch.name_len <= size)).all()
    for prefix in ("resource", "span"):
        off = getattr(batch, f"{prefix}_attr_off")
        length = getattr(batch, f"{prefix}_attr_len")
        present = off >= 0
        assert (off[present] + length[present] <= size).all()
        assert (length[~present] == 0).all()
        assert ((getattr(batch, f"{prefix}_attr_hash") != 0) == present).all()


def check(payload: bytes) -> None:
    """Decodes one input; raises AssertionError (or anything else) on a decoder bug."""
    outcome = decode(payload)
    if isinstance(outcome, WireFormatError):
        assert 0 <= outcome.offset <= len(payload), outcome
    else:
        assert_consistent(outcome)
    assert_agrees_with_library(payload)


def one_input(data: bytes) -> None:
    """The atheris entry point: chooses how to use the fuzzer's bytes, then checks them."""
    provider = atheris.FuzzedDataProvider(data)
    mode = provider.ConsumeIntInRange(0, 2)
    if mode == 0:
        check(provider.ConsumeBytes(provider.remaining_bytes()))
    elif mode == 1:
        level = LEVELS[provider.ConsumeIntInRange(0, len(LEVELS) - 1)]
        check(nest(provider.ConsumeBytes(provider.remaining_bytes()), level)[0])
    else:
        mutated = bytearray(SEEDS[provider.ConsumeIntInRange(0, len(SEEDS) - 1)])
        while provider.remaining_bytes() >= 3:
            where = provider.ConsumeIntInRange(0, max(0, len(mutated) - 1))
            value = provider.ConsumeInt(1) & 0xFF
            if provider.ConsumeBool() or not mutated:
                mutated[where:where] = bytes([value])
            else:
                mutated[where] = value
        check(bytes(mutated))


def main() -> None:
    """Runs libFuzzer with the command line's flags (e.g. -runs=N, -seed=N)."""
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
