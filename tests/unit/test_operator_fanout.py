"""Concurrent API calls: results in order, nothing left running when one fails."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cxj_operator.fanout import run_all


def test_calls_run_at_once_and_results_keep_the_item_order() -> None:
    together = threading.Barrier(3, timeout=5)

    def call(item: int) -> int:
        together.wait()  # only passes when all three run at the same time
        return item * 10

    with ThreadPoolExecutor(3) as pool:
        assert run_all(pool, call, [1, 2, 3]) == [10, 20, 30]


def test_the_first_failure_is_raised_after_every_call_finished() -> None:
    finished: list[int] = []
    slow_may_end = threading.Event()

    def call(item: int) -> int:
        if item == 1:
            raise ValueError("first")
        if item == 2:
            slow_may_end.wait(5)
        if item == 3:
            slow_may_end.set()
            raise KeyError("second")
        finished.append(item)
        return item

    with ThreadPoolExecutor(4) as pool, pytest.raises(ValueError, match="first"):
        run_all(pool, call, [1, 2, 3, 4])
    assert sorted(finished) == [2, 4]


@pytest.mark.parametrize(
    "pool", [pytest.param(None, id="without-a-pool"), pytest.param("pool", id="one-item")]
)
def test_without_a_pool_or_with_one_item_calls_run_on_the_caller(pool: str | None) -> None:
    callers: list[str] = []

    def call(item: int) -> int:
        callers.append(threading.current_thread().name)
        return item

    items = [1, 2] if pool is None else [1]
    with ThreadPoolExecutor(2) as executor:
        assert run_all(executor if pool else None, call, items) == items
    assert set(callers) == {threading.current_thread().name}
