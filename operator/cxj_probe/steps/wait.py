"""The wait step: pause, as a user would between actions."""

from __future__ import annotations

import asyncio

from cxj_journey.model import Step, WaitStep
from cxj_probe.steps.base import StepContext, StepOutcome
from cxj_probe.steps.timing import StepClock, outcome_of


async def run_wait(step: Step, context: StepContext) -> StepOutcome:
    """Sleeps for the step's duration; it has no phases and cannot fail on its own."""
    action = step.action
    if not isinstance(action, WaitStep):
        raise TypeError(f"run_wait needs a wait step, got {step.kind} step {step.name!r}")

    async def work(clock: StepClock, outcome: StepOutcome) -> None:
        await asyncio.sleep(action.duration_s)

    return await outcome_of(work)
