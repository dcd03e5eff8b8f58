"""The sip step: an OPTIONS ping, or a whole call with its call-setup time, to a SIP server."""

from __future__ import annotations

import secrets
import time

from cxj_journey.model import SipStep, Step
from cxj_probe.steps.base import Phase, StepContext, StepFailure, StepOutcome, now_ns
from cxj_probe.steps.sip.dialog import parse_target, sdp_offer, server_uri
from cxj_probe.steps.sip.digest import Credentials
from cxj_probe.steps.sip.session import SipSession
from cxj_probe.steps.sip.transport import MediaSink, open_transport

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"


async def run_sip(step: Step, context: StepContext) -> StepOutcome:
    """Runs a sip step; failures are returned in the outcome, never raised.

    Phases: options (OPTIONS to its final response), or for a call setup (INVITE to its
    final response: the call-setup time), hold and teardown (BYE to its response).
    """
    action = step.action
    if not isinstance(action, SipStep):
        raise TypeError(f"run_sip got a {type(action).__name__} step")
    outcome = StepOutcome(start_ns=now_ns(), end_ns=0)
    started = time.monotonic()
    session: SipSession | None = None
    try:
        host, port = _target(action.target)
        outcome.attributes.update(
            {
                "sip.method": "OPTIONS" if action.mode == "options" else "INVITE",
                "server.address": host,
                "server.port": port,
                "network.transport": action.transport,
            }
        )
        credentials = None
        if action.auth is not None:
            password = context.secrets(action.auth.password.name, action.auth.password.key)
            credentials = Credentials(action.auth.username, password, secrets.token_hex(8))
        transport = await open_transport(host, port, action.transport)
        session = SipSession(
            action,
            context,
            transport,
            outcome,
            started=started,
            default_uri=server_uri(host, port, action.transport),
            credentials=credentials,
        )
        if action.mode == "options":
            await options(session)
        else:
            await call(session)
    except StepFailure as failure:
        outcome.error_type, outcome.error_message = failure.error_type, failure.message
    finally:
        if session is not None:
            session.close()
        outcome.end_ns = now_ns()
    return outcome


def _target(target: str) -> tuple[str, int]:
    try:
        return parse_target(target)
    except ValueError as error:
        raise StepFailure("protocol", str(error)) from error


async def options(session: SipSession) -> None:
    """OPTIONS, then compare the final response with expectCode."""
    started = now_ns()
    final = await session.request(
        "OPTIONS", session.deadline, headers=(("accept", "application/sdp"), ("allow", ALLOW))
    )
    session.outcome.phases.append(Phase("options", started, now_ns()))
    session.judge("OPTIONS", final)


async def call(session: SipSession) -> None:
    """INVITE and wait for the final response; when answered ACK, hold, then BYE."""
    outcome, local = session.outcome, session.transport.local
    session.media = await MediaSink.open(local.host)
    offer = sdp_offer(local.host, session.media.port, secrets.randbelow(2**31))
    started, clock = now_ns(), time.monotonic()
    try:
        final = await session.request(
            "INVITE",
            session.answer_deadline,
            body=offer,
            headers=(("content-type", "application/sdp"), ("allow", ALLOW)),
            clock=clock,
        )
    except StepFailure as failure:
        outcome.phases.append(Phase("setup", started, now_ns()))
        if failure.error_type == "no_answer":
            await session.cancel()
        raise
    outcome.phases.append(Phase("setup", started, now_ns()))
    outcome.measurements["sip.call_setup_time"] = time.monotonic() - clock
    code = final.status_code or 0
    if code >= 300:
        session.judge("INVITE", final)
        return
    session.confirm(final)
    if code != session.action.expect_code:
        await teardown(session)
        session.judge("INVITE", final)
    await hold(session)
    await teardown(session)


async def hold(session: SipSession) -> None:
    """Keeps the call up for holdFor, answering what the far end sends meanwhile."""
    hold_for = session.action.hold_for_s
    started, clock = now_ns(), time.monotonic()
    until = min(clock + hold_for, session.deadline)
    try:
        while (now := time.monotonic()) < until:
            message = await session.transport.receive(until - now)
            if message is not None:
                session.elsewhere(message)
            if session.hung_up_at is not None:
                raise StepFailure(
                    "closed",
                    f"the far end hung up (BYE) {session.hung_up_at - clock:.1f}s into the "
                    f"{hold_for:g}s hold",
                )
    finally:
        session.outcome.phases.append(Phase("hold", started, now_ns()))
    if time.monotonic() < clock + hold_for:
        raise StepFailure(
            "timeout", f"the step's {session.timeout_s:g}s timeout ended during the hold"
        )


async def teardown(session: SipSession) -> None:
    """BYE, and require 200."""
    started = now_ns()
    session.answered = False  # from here on the BYE transaction owns the call's end
    try:
        final = await session.request("BYE", session.deadline, in_dialog=True)
    finally:
        session.outcome.phases.append(Phase("teardown", started, now_ns()))
    if final.status_code != 200:
        raise StepFailure("sip_status", f"BYE answered {final.status_code} {final.reason}")
