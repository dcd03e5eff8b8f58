"""One SIP session of the probe: its dialog, its transactions, digest retries, and cleanup."""

from __future__ import annotations

import time

from cxj_journey.model import SipStep
from cxj_probe.steps.base import StepContext, StepFailure, StepOutcome
from cxj_probe.steps.sip.dialog import Dialog, cancel_for
from cxj_probe.steps.sip.digest import Challenge, Credentials, DigestError, choose
from cxj_probe.steps.sip.inbound import answer_request
from cxj_probe.steps.sip.message import (
    USER_AGENT,
    SipMessage,
    encode,
    new_branch,
    new_call_id,
    new_tag,
)
from cxj_probe.steps.sip.transaction import ClientTransaction
from cxj_probe.steps.sip.transport import MediaSink, SipTransport

BUSY = frozenset({486, 600})
# Which header carries a challenge, and which its answer (RFC 3261 22.2, 22.3).
CHALLENGES = {
    401: ("www-authenticate", "authorization"),
    407: ("proxy-authenticate", "proxy-authorization"),
}
_EDGE_S = 0.05  # return this long before the run loop's own timeout would cancel the step


class SipSession:
    """One OPTIONS ping or one call: its dialog, transactions and timing."""

    def __init__(
        self,
        action: SipStep,
        context: StepContext,
        transport: SipTransport,
        outcome: StepOutcome,
        *,
        started: float,
        default_uri: str,
        credentials: Credentials | None,
    ) -> None:
        self.action = action
        self.transport = transport
        self.outcome = outcome
        self.started = started
        self.timeout_s = context.timeout_s
        self.deadline = started + context.timeout_s - _EDGE_S
        # Stop waiting for an answer early enough to cancel the call within the timeout.
        self.answer_deadline = self.deadline - min(1.0, context.timeout_s / 5)
        uri = action.to or default_uri
        trace = tuple((name.lower(), value) for name, value in context.trace_headers.items())
        self.dialog = Dialog(
            call_id=new_call_id(transport.local.host),
            local_uri=action.from_uri,
            local_tag=new_tag(),
            remote_uri=uri,
            request_uri=uri,
            extra_headers=(("user-agent", USER_AGENT), *trace),
        )
        self.credentials = credentials
        self.transactions: list[ClientTransaction] = []
        self.invite: ClientTransaction | None = None
        self.media: MediaSink | None = None
        self.answer_ack: bytes | None = None
        self.answered = False  # the call is up: ending it takes a BYE
        self.cancelled = False
        self.hung_up_at: float | None = None
        outcome.attributes["sip.call_id"] = self.dialog.call_id

    async def request(
        self,
        method: str,
        deadline: float,
        *,
        in_dialog: bool = False,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
        clock: float | None = None,
    ) -> SipMessage:
        """Sends a request and returns its final response, answering a Digest challenge.

        A second challenge is answered only when it says the nonce was stale; otherwise
        the credentials were refused and that response is returned.

        Raises:
            StepFailure: timeout when nothing answers, no_answer when an INVITE got only
                provisional responses by the deadline, auth for an unanswerable challenge.
        """
        challenges = 0
        while True:
            uri = self.dialog.uri_for(in_dialog=in_dialog)
            auth = self.credentials.headers(method, uri, body) if self.credentials else ()
            message = self.dialog.request(
                method,
                self.transport.local,
                branch=new_branch(),
                in_dialog=in_dialog,
                body=body,
                headers=(*headers, *auth),
            )
            transaction = ClientTransaction(self.transport, message)
            self.transactions.append(transaction)
            if method == "INVITE":
                self.invite = transaction
            final = await self._final(transaction, deadline, clock)
            code = final.status_code or 0
            if (
                code not in CHALLENGES
                or code == self.action.expect_code
                or self.credentials is None
                or challenges == 2
            ):
                return final
            challenge = _challenge(final)
            if challenges == 1 and not challenge.stale:
                return final
            self.credentials.use(CHALLENGES[code][1], challenge)
            challenges += 1

    async def _final(
        self, transaction: ClientTransaction, deadline: float, clock: float | None
    ) -> SipMessage:
        while True:
            response = await transaction.next_response(deadline, self.elsewhere)
            self.outcome.attributes["sip.retransmissions"] = sum(
                t.retransmissions for t in self.transactions
            )
            if response is None:
                raise self._silence(transaction)
            code = response.status_code or 0
            if code >= 200:
                return response
            if clock is not None and code in (180, 183):
                self.outcome.measurements.setdefault(
                    "sip.post_dial_delay", time.monotonic() - clock
                )

    def _silence(self, transaction: ClientTransaction) -> StepFailure:
        waited = time.monotonic() - self.started
        if transaction.method == "INVITE" and transaction.provisional is not None:
            last = transaction.provisional
            return StepFailure(
                "no_answer",
                f"INVITE got {last.status_code} {last.reason} but no final response "
                f"within {waited:.1f}s",
            )
        where = f"{self.transport.kind} {self.transport.remote[0]}:{self.transport.remote[1]}"
        return StepFailure(
            "timeout",
            f"no response to {transaction.method} from {where} within {waited:.1f}s "
            f"({transaction.retransmissions} retransmissions)",
        )

    def judge(self, method: str, final: SipMessage) -> None:
        """Compares a final response with expectCode; raises the failure it means."""
        code = final.status_code or 0
        self.outcome.attributes["sip.response.status_code"] = code
        if code == self.action.expect_code:
            return
        answer = f"{method} answered {code} {final.reason}".rstrip()
        if code in BUSY:
            raise StepFailure("busy", answer)
        if code in CHALLENGES:
            fix = (
                f"the server refused the credentials of {self.action.auth.username}"
                if self.action.auth
                else "the server asks for credentials; set sip.auth"
            )
            raise StepFailure("auth", f"{answer}: {fix}")
        raise StepFailure("sip_status", f"{answer}, expected {self.action.expect_code}")

    def confirm(self, answer: SipMessage) -> None:
        """The call is answered: record the dialog and ACK the 2xx (RFC 3261 13.2.2.4)."""
        if self.invite is None:
            raise RuntimeError("confirm() needs the INVITE it answers")
        self.outcome.attributes["sip.response.status_code"] = answer.status_code or 0
        self.dialog.confirm(answer)
        invite = self.invite.request
        # The ACK of a 2xx carries the INVITE's credentials, unchanged.
        credentials = tuple(
            (k, v) for k, v in invite.headers if k in ("authorization", "proxy-authorization")
        )
        ack = self.dialog.build(
            "ACK",
            self.transport.local,
            branch=new_branch(),
            cseq=invite.cseq[0],
            in_dialog=True,
            headers=credentials,
        )
        self.answer_ack = encode(ack)
        self.transport.send(self.answer_ack)
        self.answered = True

    async def cancel(self) -> None:
        """CANCELs the ringing INVITE and ACKs its 487 (RFC 3261 9.1), within the timeout."""
        if self.invite is None or self.invite.provisional is None:
            return  # nothing may be cancelled before a provisional response
        self.cancelled = True
        cancel = ClientTransaction(self.transport, cancel_for(self.invite.request))
        self.transactions.append(cancel)
        response = await cancel.next_response(self.deadline, self.elsewhere)
        if response is not None and response.status_code:
            self.outcome.attributes["sip.cancel.status_code"] = response.status_code
        while self.invite.final is None:
            if await self.invite.next_response(self.deadline, self.elsewhere) is None:
                return
        final = self.invite.final
        if final.status_code is not None and final.status_code < 300:
            self.confirm(final)  # answered as we cancelled: close() hangs up with BYE

    def elsewhere(self, message: SipMessage) -> None:
        """Handles a message no waiting transaction took."""
        code = message.status_code or 0
        if self.answer_ack is not None and message.cseq[1] == "INVITE" and 200 <= code < 300:
            self.transport.send(self.answer_ack)  # the 2xx again: our ACK was lost
            return
        for transaction in self.transactions:
            if transaction.offer(message):
                return
        if message.is_request:
            reply, ended = answer_request(message, self.dialog, answered=self.answered)
            if reply is not None:
                self.transport.send(encode(reply))
            if ended:
                self.answered = False
                self.hung_up_at = time.monotonic()

    def close(self) -> None:
        """Ends whatever is still up without waiting, then closes the sockets.

        Synchronous on purpose: it also runs when the run loop cancels the step.
        """
        invite = self.invite
        ringing = invite is not None and invite.final is None and invite.provisional is not None
        if invite is not None and ringing and not self.cancelled:
            self.transport.send(encode(cancel_for(invite.request)))
        elif self.answered:
            bye = self.dialog.request(
                "BYE", self.transport.local, branch=new_branch(), in_dialog=True
            )
            self.transport.send(encode(bye))
        if self.media is not None:
            self.outcome.attributes["sip.media.packets_received"] = self.media.packets
            self.media.close()
        if self.transport.malformed:
            self.outcome.attributes["sip.malformed_messages"] = self.transport.malformed
        self.transport.close()


def _challenge(response: SipMessage) -> Challenge:
    header = CHALLENGES[response.status_code or 0][0]
    try:
        return choose(response.raw_values(header))
    except DigestError as error:
        raise StepFailure(
            "auth", f"cannot answer the {response.status_code} challenge: {error}"
        ) from error
