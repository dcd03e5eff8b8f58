"""The tcp step: resolve and open a TCP connection, timing the connect."""

from __future__ import annotations

from cxj_journey.model import Step, TcpStep
from cxj_probe.steps.base import StepContext, StepOutcome
from cxj_probe.steps.connection import connect, resolve
from cxj_probe.steps.timing import StepClock, outcome_of


async def run_tcp(step: Step, context: StepContext) -> StepOutcome:
    """Connects to host:port and closes at once; phases dns (for a host name) and connect."""
    action = step.action
    if not isinstance(action, TcpStep):
        raise TypeError(f"run_tcp needs a tcp step, got {step.kind} step {step.name!r}")

    async def work(clock: StepClock, outcome: StepOutcome) -> None:
        outcome.attributes.update(
            {
                "server.address": action.host,
                "server.port": action.port,
                "network.transport": "tcp",
            }
        )
        addresses = await resolve(action.host, action.port, clock, outcome.phases)
        sock = await connect(addresses, clock, outcome.phases)
        try:
            outcome.attributes["network.peer.address"] = str(sock.getpeername()[0])
        finally:
            sock.close()

    return await outcome_of(work)
