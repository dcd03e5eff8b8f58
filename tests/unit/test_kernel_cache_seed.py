"""Seeding the compiled-kernel cache from the copy an image ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxj_cli.kernel_cache import seed_kernel_cache


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    folder = tmp_path / "seed" / "cxj_processors_abc"
    folder.mkdir(parents=True)
    (folder / "runs._fold-150.py311.nbi").write_bytes(b"index")
    (folder / "runs._fold-150.py311.1.nbc").write_bytes(b"code")
    return tmp_path / "seed"


def test_the_shipped_kernels_are_copied_into_the_writable_cache(seed: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    environ = {"CXJ_NUMBA_CACHE_SEED": str(seed), "NUMBA_CACHE_DIR": str(cache)}
    assert seed_kernel_cache(environ) == 2
    assert (cache / "cxj_processors_abc" / "runs._fold-150.py311.1.nbc").read_bytes() == b"code"
    assert seed_kernel_cache(environ) == 0  # already there: kept, not copied again


def test_a_kernel_the_cache_already_holds_is_kept(seed: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    newer = cache / "cxj_processors_abc" / "runs._fold-150.py311.nbi"
    newer.parent.mkdir(parents=True)
    newer.write_bytes(b"recompiled here")
    environ = {"CXJ_NUMBA_CACHE_SEED": str(seed), "NUMBA_CACHE_DIR": str(cache)}
    assert seed_kernel_cache(environ) == 1
    assert newer.read_bytes() == b"recompiled here"


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"NUMBA_CACHE_DIR": "/tmp/x"},
        {"CXJ_NUMBA_CACHE_SEED": "/nonexistent", "NUMBA_CACHE_DIR": "/tmp/x"},
    ],
    ids=["nothing-set", "no-seed", "seed-missing"],
)
def test_without_a_seed_nothing_happens(environ: dict[str, str]) -> None:
    assert seed_kernel_cache(environ) == 0


def test_an_unwritable_cache_is_reported_and_startup_goes_on(
    seed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    environ = {"CXJ_NUMBA_CACHE_SEED": str(seed), "NUMBA_CACHE_DIR": str(blocker / "cache")}
    assert seed_kernel_cache(environ) == 0
    assert "kernels will be compiled on first use" in capsys.readouterr().err
