"""Step timing: monotonic durations anchored to wall time, and the executors' common edge."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from cxj_probe.steps.base import StepFailure, StepOutcome, now_ns
from cxj_probe.steps.connection import network_failure


class StepClock:
    """Times one step: durations from the monotonic clock, timestamps anchored to wall time.

    Why both clocks: the wall clock can be stepped (NTP, a VM resuming) at any moment, which
    would make a phase negative or hours long, while perf_counter_ns is monotonic with
    nanosecond resolution. Spans need wall-clock timestamps, so the step reads time_ns once
    at its start and every later instant is that anchor plus the monotonic time elapsed
    since: durations are exact and all timestamps of one step are mutually consistent.
    """

    __slots__ = ("_perf_anchor", "start_ns")

    def __init__(self) -> None:
        self.start_ns = now_ns()
        self._perf_anchor = time.perf_counter_ns()

    def now(self) -> int:
        """The current instant as a wall-clock timestamp in nanoseconds."""
        return self.start_ns + time.perf_counter_ns() - self._perf_anchor

    def at(self, perf_ns: int) -> int:
        """Converts a perf_counter_ns reading taken during this step to a timestamp."""
        return self.start_ns + perf_ns - self._perf_anchor


StepWork = Callable[[StepClock, StepOutcome], Awaitable[None]]


async def outcome_of(work: StepWork) -> StepOutcome:
    """Runs an executor's body and returns its outcome, a failure included, never raising one.

    The body fills the outcome as it goes (phases, attributes), so a failed step still
    carries what was measured before it failed. Cancellation (the run loop's timeout)
    propagates: the body's finally blocks close its sockets.
    """
    clock = StepClock()
    outcome = StepOutcome(start_ns=clock.start_ns, end_ns=clock.start_ns)
    try:
        await work(clock, outcome)
    except StepFailure as failure:
        outcome.error_type, outcome.error_message = failure.error_type, failure.message
    except OSError as exc:  # a socket error no narrower handler anticipated
        mapped = network_failure(exc, "network")
        outcome.error_type, outcome.error_message = mapped.error_type, mapped.message
    outcome.end_ns = clock.now()
    return outcome
