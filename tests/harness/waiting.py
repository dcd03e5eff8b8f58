"""Waiting for a condition a test cannot be told about: bounded polling that fails with context."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    diagnose: Callable[[], str] = str,
    interval: float = 0.2,
) -> Any:
    """Polls `check` until it returns something truthy and returns that.

    Fails the test after `timeout` seconds, naming `what`, the last value and `diagnose()`
    (logs, usually).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"not {what} after {timeout:.0f}s (last: {last!r})\n{diagnose()}")
