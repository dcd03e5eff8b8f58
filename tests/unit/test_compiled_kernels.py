"""The kernels compiled ahead of time: same answers as the JIT, no numba in the process, guarded.

Every other kernel test in this suite runs on the compiled module when it is built (the
default once `make test` has built it); the comparison here runs the processor's whole path
and the conversation analysis on both and requires identical results.
"""

from __future__ import annotations

import json
import os
import pickle
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.harness.python import run_python

from cxj_processors import compiled

_RUN_BOTH = textwrap.dedent(
    """
    import json, sys
    from benchmarks.processor_corpus import START_NS, build
    from cxj_processors import compiled
    from cxj_processors.config import ProcessorConfig
    from cxj_processors.conversations.generator import generate
    from cxj_processors.conversations.plan import GeneratorOptions
    from cxj_processors.conversations.policy import default_policy
    from cxj_processors.conversations.signals import analyze
    from cxj_processors.pipeline import Pipeline

    pipeline = Pipeline(ProcessorConfig(), clock=lambda: START_NS / 1e9 + 300)
    for request in build(per_request=60).requests:
        pipeline.accept("traces", request)
    journeys = {str(key): repr(value) for key, value in sorted(pipeline.evaluate().items())}
    policy = default_policy()
    made = generate(GeneratorOptions(conversations=40, seed=3), policy)
    summaries = [repr(s) for s in analyze([m.conversation for m in made], policy)]
    print(json.dumps({
        "compiled": compiled.loaded() is not None,
        "numba imported": "numba" in sys.modules or "llvmlite" in sys.modules,
        "journeys": journeys,
        "conversations": summaries,
    }))
    """
)


def _ensure_built() -> None:
    """Builds the module if the kernels folder lacks it (quick when numba's cache is warm)."""
    run_python("from cxj_processors.compiled.build import main; raise SystemExit(main())")


def _run(kernels: str) -> dict[str, Any]:
    stdout = run_python(_RUN_BOTH, env={"CXJ_KERNELS": kernels, "NUMBA_DISABLE_JIT": None})
    result: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    return result


def test_compiled_kernels_give_the_jits_answers_without_numba_in_the_process() -> None:
    _ensure_built()
    ahead, jit = _run("compiled"), _run("jit")
    assert ahead["compiled"]
    assert not ahead["numba imported"]
    assert not jit["compiled"]
    assert jit["numba imported"]
    assert len(ahead["journeys"]) == 2000
    assert len(ahead["conversations"]) == 40
    assert ahead["journeys"] == jit["journeys"]
    assert ahead["conversations"] == jit["conversations"]


_CALL_REPEATEDLY = textwrap.dedent(
    """
    import json, pickle
    import numpy as np
    from cxj_processors import compiled

    kernels = compiled.loaded()
    group = kernels["runs__group_by_trace"]
    trace = np.array([3, 1, 3], dtype=np.uint64)
    first = group(trace, trace).tolist()
    before = compiled.CONSTANTS.reused
    for _ in range(5):
        assert group(trace, trace).tolist() == first
    print(json.dumps({
        "order": first,
        "reused": compiled.CONSTANTS.reused - before,
        "pickle.loads restored": pickle.loads is not compiled.CONSTANTS,
    }))
    """
)


def test_a_compiled_kernel_unpickles_its_result_dtype_once() -> None:
    _ensure_built()
    stdout = run_python(
        _CALL_REPEATEDLY, env={"CXJ_KERNELS": "compiled", "NUMBA_DISABLE_JIT": None}
    )
    result = json.loads(stdout.splitlines()[-1])
    assert result["order"] == [0, 2, 1]
    assert result["reused"] >= 5  # each of the five calls boxed its array with a known dtype
    assert result["pickle.loads restored"]


def test_remembered_constants_are_only_immutable_ones() -> None:
    loads = compiled.RememberingLoads(pickle.loads)
    dtype, listed = pickle.dumps(np.dtype(np.float64)), pickle.dumps([1, 2])
    assert loads(dtype) is loads(dtype)
    assert loads.reused == 1
    assert loads(listed) == [1, 2]
    assert loads(listed) is not loads(listed)  # a mutable value is never shared
    assert loads(bytearray(dtype)) == np.dtype(np.float64)  # passed through, not remembered
    assert loads.reused == 1


# -- the guard ----------------------------------------------------------------------------
def _sum_first(values: Any, count: Any, flags: Any) -> str:
    return "called"


_ARGUMENTS = [
    ["array", "float64", 1, True, False],
    ["int"],
    ["tuple", [["bool"], ["array", "uint8", 1, True, True]]],
]


def test_the_guard_passes_arguments_of_the_compiled_types() -> None:
    call = compiled.guarded("k", _sum_first, _ARGUMENTS)
    readonly = np.frombuffer(b"ab", dtype=np.uint8)
    assert call(np.zeros(3), 2, (True, readonly)) == "called"
    assert call(np.zeros(3), np.int32(2), (np.bool_(False), np.zeros(2, np.uint8))) == "called"


@pytest.mark.parametrize(
    ("arguments", "wanted"),
    [
        (
            (np.zeros(3, np.float32), 2, (True, np.zeros(2, np.uint8))),
            "argument 0 must be a 1-d float64",
        ),
        ((np.zeros((3, 1)), 2, (True, np.zeros(2, np.uint8))), "got 2-d float64"),
        ((np.zeros(6)[::2], 2, (True, np.zeros(2, np.uint8))), "strided"),
        ((np.frombuffer(bytes(24)), 2, (True, np.zeros(2, np.uint8))), "read-only"),
        (([0.0, 1.0], 2, (True, np.zeros(2, np.uint8))), "got list"),
        (
            (
                np.frombuffer(bytearray(25), dtype=np.float64, offset=1),
                2,
                (True, np.zeros(2, np.uint8)),
            ),
            "unaligned",
        ),
        ((np.zeros(3), 2.5, (True, np.zeros(2, np.uint8))), "argument 1 must be a int"),
        ((np.zeros(3), True, (True, np.zeros(2, np.uint8))), "argument 1"),
        ((np.zeros(3), 2, (1, np.zeros(2, np.uint8))), "argument 2 must be a tuple"),
        ((np.zeros(3), 2, (True,)), "argument 2"),
        ((np.zeros(3), 2), "takes 3 arguments, got 2"),
    ],
)
def test_the_guard_refuses_other_types_naming_kernel_and_argument(
    arguments: tuple[Any, ...], wanted: str
) -> None:
    call = compiled.guarded("kernels__robust__k", _sum_first, _ARGUMENTS)
    with pytest.raises(TypeError, match="compiled kernel kernels__robust__k") as raised:
        call(*arguments)
    assert wanted in str(raised.value)


# -- choosing ----------------------------------------------------------------------------
def test_the_setting_is_validated_and_numba_disable_jit_means_the_jit() -> None:
    assert compiled.mode({}) == "auto"
    assert compiled.mode({"CXJ_KERNELS": " Compiled "}) == "compiled"
    assert compiled.mode({"CXJ_KERNELS": "compiled", "NUMBA_DISABLE_JIT": "1"}) == "jit"
    with pytest.raises(ValueError, match="CXJ_KERNELS: must be one of auto, jit, compiled"):
        compiled.mode({"CXJ_KERNELS": "aot"})


def test_requiring_the_module_where_there_is_none_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXJ_KERNELS", "compiled")
    monkeypatch.setenv("CXJ_KERNELS_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    with pytest.raises(compiled.KernelsUnavailable) as raised:
        compiled.loaded.__wrapped__()
    assert str(compiled.module_path(tmp_path)) in str(raised.value)
    assert "python -m cxj_processors.compiled.build" in str(raised.value)
    monkeypatch.setenv("CXJ_KERNELS", "auto")
    assert compiled.loaded.__wrapped__() is None  # auto: the JIT instead


def test_a_module_that_cannot_be_loaded_means_the_jit_or_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXJ_KERNELS_DIR", str(tmp_path))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    compiled.module_path(tmp_path).write_bytes(b"not a shared object")
    compiled.manifest_path(tmp_path).write_text("{}")
    monkeypatch.setenv("CXJ_KERNELS", "auto")
    with pytest.warns(RuntimeWarning, match="running on numba's JIT"):
        assert compiled.loaded.__wrapped__() is None
    monkeypatch.setenv("CXJ_KERNELS", "compiled")
    with pytest.raises(compiled.KernelsUnavailable, match="--force"):
        compiled.loaded.__wrapped__()


def test_the_folder_defaults_to_the_user_cache() -> None:
    assert compiled.folder({"XDG_CACHE_HOME": "/c"}) == Path("/c/cxjourney/kernels")
    assert compiled.folder({"CXJ_KERNELS_DIR": "/k", "XDG_CACHE_HOME": "/c"}) == Path("/k")


def test_a_kernel_is_exported_under_its_module_path() -> None:
    def score_components() -> None:
        """Stands for the kernel of that name."""

    score_components.__module__ = "cxj_processors.kernels.robust"
    score_components.__qualname__ = "score_components"
    assert compiled.symbol(score_components) == "kernels__robust__score_components"


def test_a_build_removes_modules_of_other_sources_after_a_week(tmp_path: Path) -> None:
    from cxj_processors.compiled.build import _remove_stale

    old, recent = tmp_path / "cxj_kernels_0000.so", tmp_path / "cxj_kernels_1111.so"
    current, unrelated = compiled.module_path(tmp_path), tmp_path / "notes.txt"
    for path in (old, recent, current, unrelated):
        path.write_text("x")
    week_ago = time.time() - 8 * 86400
    for path in (old, current, unrelated):
        os.utime(path, (week_ago, week_ago))
    _remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (recent, current, unrelated)
    )
