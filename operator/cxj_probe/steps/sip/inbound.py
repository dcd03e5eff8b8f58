"""What the client answers to requests the SIP server sends it during a call."""

from __future__ import annotations

from cxj_probe.steps.sip.dialog import Dialog, response_to
from cxj_probe.steps.sip.message import SipMessage

# Re-INVITE and UPDATE are refused: the call keeps its offer (RFC 3261 14.2), a known gap.
_ANSWERS = {"OPTIONS": 200, "INVITE": 488, "UPDATE": 488, "BYE": 481, "CANCEL": 481}


def answer_request(
    request: SipMessage, dialog: Dialog, *, answered: bool
) -> tuple[SipMessage | None, bool]:
    """The response to a request from the server, and whether it ends the call.

    A BYE in our answered dialog is accepted (the far end hung up); ACK gets no answer;
    anything unknown gets 501.
    """
    if request.method == "ACK":
        return None, False
    ours = request.call_id == dialog.call_id
    if request.method == "BYE" and ours and answered:
        return response_to(request, 200, to_tag=dialog.local_tag), True
    code = _ANSWERS.get(request.method or "", 501)
    return response_to(request, code, to_tag=dialog.local_tag), False
