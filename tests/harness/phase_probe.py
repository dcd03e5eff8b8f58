"""The http step as its own process: one probe per line read, its phases written as JSON.

Timing comparisons run it beside the other prober so that each measures in a process of
its own: threads left in the test process by earlier tests do not weigh on one side only.
Input lines are URLs; each output line is {"ok": bool, "error": str, "phases": {name: s}}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from cxj_journey.model import HttpStep
from cxj_probe.steps.http import run_http
from tests.harness.step_targets import make_context, make_step


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    context = make_context()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        url = line.strip()
        step = make_step(HttpStep(url, "GET", (), None, True, 10, True, ()), kind="http")
        outcome = await run_http(step, context)
        phases = {p.name: (p.end_ns - p.start_ns) / 1e9 for p in outcome.phases}
        reply = {"ok": outcome.ok, "error": outcome.error_message or "", "phases": phases}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(_serve())
