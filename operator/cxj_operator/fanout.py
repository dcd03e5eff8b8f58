"""Runs one API call for many items at once: the caller waits for the slowest, not the sum."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, wait
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def run_all(
    pool: Executor | None, call: Callable[[Item], Result], items: Sequence[Item]
) -> list[Result]:
    """Calls call(item) for every item, concurrently on the pool; results in item order.

    Every call is allowed to finish before anything is raised, so no request is left
    running behind the caller's back; then the first failure in item order is raised.
    Without a pool (or with one item) the calls run one after another on this thread.
    The calls must not themselves wait on the same pool.
    """
    if pool is None or len(items) < 2:
        return [call(item) for item in items]
    futures = [pool.submit(call, item) for item in items]
    wait(futures)
    return [future.result() for future in futures]
