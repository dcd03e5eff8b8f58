"""Checkpoints: a restored store and baselines evaluate and continue exactly like the originals."""

from __future__ import annotations

import io
from dataclasses import fields

import numpy as np
import pytest
from tests.unit.test_windows import CONTRACTS, NOW, records, same

from cxj_processors.baselines import RobustBaselines
from cxj_processors.checkpoint import CheckpointError, from_arrays, to_arrays
from cxj_processors.model import OUTCOME_FAILURE
from cxj_processors.windows import WindowStore


def populated() -> tuple[WindowStore, RobustBaselines]:
    rng = np.random.default_rng(11)
    store, baselines = WindowStore(), RobustBaselines()
    now = NOW
    for _ in range(5):
        now += 1800
        rows = [{"series": int(rng.integers(0, 4)), "end_s": now - float(rng.uniform(0, 30000)),
                 "outcome": int(rng.integers(0, 3)), "layer": int(rng.integers(-1, 4)),
                 "duration_s": float(rng.uniform(0, 9)), "mos_in": float(rng.uniform(1, 4.5)),
                 "trace_lo": int(rng.integers(1, 99))} for _ in range(200)]  # fmt: skip
        store.add(records(rows), CONTRACTS, now)
        baselines.score_and_update(rng.integers(0, 50, 300), rng.lognormal(0, 1, 300))
    return store, baselines


def roundtrip(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Through np.savez and back, as the processor stores it."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer) as loaded:
        return {key: loaded[key] for key in loaded.files}


def assert_same_statuses(a: WindowStore, b: WindowStore, now: float) -> None:
    for series, contract in enumerate(CONTRACTS):
        ours, theirs = a.evaluate(series, contract, now), b.evaluate(series, contract, now)
        for f in fields(ours):
            assert same(getattr(ours, f.name), getattr(theirs, f.name)), f.name


def test_a_restored_store_evaluates_and_continues_identically() -> None:
    store, baselines = populated()
    restored, restored_baselines = from_arrays(roundtrip(to_arrays(store, baselines)))
    now = NOW + 5 * 1800
    assert_same_statuses(store, restored, now)
    later = now + 600
    more = records([{"series": 2, "end_s": later - 30, "outcome": OUTCOME_FAILURE, "trace_lo": 7}])
    assert store.add(more, CONTRACTS, later) == restored.add(more, CONTRACTS, later)
    assert_same_statuses(store, restored, later)
    ids, values = np.arange(50), np.linspace(0.5, 5, 50)
    assert np.array_equal(
        baselines.score_and_update(ids, values),
        restored_baselines.score_and_update(ids, values),
        equal_nan=True,
    )


def test_an_empty_state_roundtrips() -> None:
    store, baselines = from_arrays(roundtrip(to_arrays(WindowStore(), RobustBaselines())))
    assert store.series_count() == 0
    assert baselines.component_count() == 0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        pytest.param(lambda a: a.pop("store.coarse"), "store.coarse: missing", id="missing-array"),
        pytest.param(lambda a: a.__setitem__("store.fine", a["store.fine"].astype(np.int64)),
                     "store.fine: dtype int64", id="wrong-dtype"),
        pytest.param(lambda a: a.__setitem__("store.recent", a["store.recent"][:, :5]),
                     "store.recent: shape", id="wrong-shape"),
        pytest.param(lambda a: a.__setitem__("format_version", np.array([9])),
                     "format_version: checkpoint format 9", id="other-version"),
    ],
)  # fmt: skip
def test_a_damaged_checkpoint_is_refused_naming_the_array(damage: object, message: str) -> None:
    arrays = to_arrays(*populated())
    damage(arrays)  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=message):
        from_arrays(arrays)
