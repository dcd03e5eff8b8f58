"""SIP requests in a call (RFC 3261 12-13): the dialog, ACK, CANCEL, replies, the SDP offer."""

from __future__ import annotations

from dataclasses import dataclass, field

from cxj_probe.steps.sip.message import Local, SipMessage, address_uri, header_params

REASONS = {
    200: "OK",
    481: "Call/Transaction Does Not Exist",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    501: "Not Implemented",
}


@dataclass
class Dialog:
    """The call's identity and, once answered, its route (RFC 3261 12.1.2)."""

    call_id: str
    local_uri: str
    local_tag: str
    remote_uri: str
    request_uri: str
    remote_tag: str | None = None
    remote_target: str | None = None
    route_set: tuple[str, ...] = ()
    cseq: int = 0
    extra_headers: tuple[tuple[str, str], ...] = field(default=())

    def confirm(self, response: SipMessage) -> None:
        """Records the remote tag, target (Contact) and route set (reversed Record-Route)."""
        self.remote_tag = response.to_tag
        contacts = response.values("contact")
        self.remote_target = address_uri(contacts[0]) if contacts else self.request_uri
        self.route_set = tuple(reversed(response.values("record-route")))

    def uri_for(self, *, in_dialog: bool) -> str:
        """The Request-URI: the remote target inside the dialog, else the called URI."""
        return (self.remote_target or self.request_uri) if in_dialog else self.request_uri

    def request(
        self,
        method: str,
        local: Local,
        *,
        branch: str,
        in_dialog: bool = False,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> SipMessage:
        """A new request with the next CSeq; in_dialog ones go to the remote target."""
        self.cseq += 1
        return self.build(
            method,
            local,
            branch=branch,
            cseq=self.cseq,
            in_dialog=in_dialog,
            body=body,
            headers=headers,
        )

    def build(
        self,
        method: str,
        local: Local,
        *,
        branch: str,
        cseq: int,
        in_dialog: bool,
        body: bytes = b"",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> SipMessage:
        """A request with a given CSeq number (ACK for a 2xx reuses the INVITE's)."""
        to = f"<{self.remote_uri}>"
        if in_dialog and self.remote_tag:
            to += f";tag={self.remote_tag}"
        uri = self.uri_for(in_dialog=in_dialog)
        fields: list[tuple[str, str]] = [
            ("via", local.via(branch)),
            ("max-forwards", "70"),
            ("from", f"<{self.local_uri}>;tag={self.local_tag}"),
            ("to", to),
            ("call-id", self.call_id),
            ("cseq", f"{cseq} {method}"),
        ]
        if in_dialog:
            fields += [("route", route) for route in self.route_set]
        if method != "ACK":
            fields.append(("contact", local.contact()))
        fields += [*self.extra_headers, *headers]
        return SipMessage(method=method, uri=uri, headers=tuple(fields), body=body)


def ack_for_failure(invite: SipMessage, response: SipMessage) -> SipMessage:
    """The ACK a client transaction sends for a non-2xx final response (RFC 3261 17.1.1.3).

    Same branch, Request-URI, Call-ID, From and CSeq number as the INVITE; To from the
    response (with its tag); the INVITE's Route headers.
    """
    keep = ("from", "call-id", "route", "max-forwards")
    fields = [("via", invite.values("via")[0])]
    fields += [(k, v) for k, v in invite.headers if k in keep]
    fields.append(("to", response.header("to") or ""))
    fields.append(("cseq", f"{invite.cseq[0]} ACK"))
    return SipMessage(method="ACK", uri=invite.uri, headers=tuple(fields))


def cancel_for(invite: SipMessage) -> SipMessage:
    """The CANCEL of a pending INVITE (RFC 3261 9.1): same branch, no To tag, CSeq CANCEL."""
    keep = ("from", "to", "call-id", "route", "max-forwards")
    fields = [("via", invite.values("via")[0])]
    fields += [(k, v) for k, v in invite.headers if k in keep]
    fields.append(("cseq", f"{invite.cseq[0]} CANCEL"))
    return SipMessage(method="CANCEL", uri=invite.uri, headers=tuple(fields))


def response_to(request: SipMessage, code: int, *, to_tag: str | None = None) -> SipMessage:
    """A response to a request received from the server (RFC 3261 8.2.6.2)."""
    to = request.header("to") or ""
    if to_tag and "tag" not in header_params(to):
        to += f";tag={to_tag}"
    fields = [("via", via) for via in request.values("via")]
    fields += [
        ("from", request.header("from") or ""),
        ("to", to),
        ("call-id", request.call_id),
        ("cseq", request.header("cseq") or ""),
    ]
    return SipMessage(status_code=code, reason=REASONS.get(code, ""), headers=tuple(fields))


def sdp_offer(host: str, rtp_port: int, session_id: int) -> bytes:
    """A minimal audio offer: G.711 PCMU, 20 ms packets, send and receive."""
    family = "IP6" if ":" in host else "IP4"
    return (
        "v=0\r\n"
        f"o=cxj-probe {session_id} {session_id} IN {family} {host}\r\n"
        "s=cxjourney probe\r\n"
        f"c=IN {family} {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    ).encode()


def parse_target(target: str) -> tuple[str, int]:
    """host, [v6]:port or host:port as (host, port), port 5060 when omitted.

    Raises:
        ValueError: when the port is not a number in 1-65535.
    """
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        port_text = rest.removeprefix(":") or "5060"
    elif target.count(":") == 1:
        host, port_text = target.split(":")
    else:
        host, port_text = target, "5060"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"sip.target: port must be 1-65535, got {port_text!r} in {target!r}")
    return host, int(port_text)


def server_uri(host: str, port: int, transport: str) -> str:
    """sip:host:port of the target, the Request-URI when the step names no callee."""
    shown = f"[{host}]" if ":" in host else host
    suffix = ";transport=tcp" if transport == "tcp" else ""
    return f"sip:{shown}:{port}{suffix}"
