"""SIP message parsing and building: what a SIP server reads from the probe and back."""

from __future__ import annotations

import pytest

from cxj_probe.steps.sip.dialog import (
    Dialog,
    ack_for_failure,
    cancel_for,
    parse_target,
    response_to,
    sdp_offer,
    server_uri,
)
from cxj_probe.steps.sip.inbound import answer_request
from cxj_probe.steps.sip.message import (
    Local,
    SipMessage,
    SipParseError,
    address_uri,
    encode,
    frame_length,
    header_params,
    new_branch,
    parse_message,
    split_list,
)

RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"v: SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bKabc;rport=5070,"
    b" SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKdef\r\n"
    b"f: <sip:cxj-probe@cxjourney.invalid>;tag=111\r\n"
    b't: "Support" <sip:support@pbx.example;transport=udp>;tag=222\r\n'
    b"i: abc@10.0.0.5\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"Record-Route: <sip:edge-a.example;lr>, <sip:edge-b.example;lr>\r\n"
    b"m: <sip:support@10.0.0.1:5080>\r\n"
    b"Subject: folded\r\n"
    b" across lines\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"bodyEXTRA"
)


def test_response_with_compact_headers_is_read() -> None:
    message = parse_message(RINGING)
    assert (message.status_code, message.reason) == (180, "Ringing")
    assert not message.is_request
    assert message.branch == "z9hG4bKabc"
    assert message.from_tag == "111"
    assert message.to_tag == "222"
    assert message.call_id == "abc@10.0.0.5"
    assert message.cseq == (7, "INVITE")
    assert len(message.values("via")) == 2
    assert message.values("record-route") == ["<sip:edge-a.example;lr>", "<sip:edge-b.example;lr>"]
    assert message.header("subject") == "folded across lines"
    assert message.body == b"body"  # Content-Length bounds the body


def test_request_is_read() -> None:
    message = parse_message(
        b"BYE sip:cxj-probe@10.0.0.5:5070 SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n\r\n"
    )
    assert (message.method, message.uri) == ("BYE", "sip:cxj-probe@10.0.0.5:5070")
    assert message.is_request


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\n\r\n", id="not-sip"),
        pytest.param(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n", id="no-blank-line"),
        pytest.param(b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n", id="bad-header"),
        pytest.param(b"SIP/2.0 99 Too Low\r\n\r\n", id="status-out-of-range"),
    ],
)
def test_malformed_messages_are_rejected(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse_message(data)


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        pytest.param(b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nab", None, id="body-incomplete"),
        pytest.param(b"SIP/2.0 200 OK\r\nContent-Length: 3", None, id="head-incomplete"),
        pytest.param(b"SIP/2.0 200 OK\r\nl: 3\r\n\r\nabcSIP", 27, id="next-message-follows"),
        pytest.param(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 37, id="empty-body"),
    ],
)
def test_stream_framing_uses_content_length(buffer: bytes, expected: int | None) -> None:
    assert frame_length(buffer) == expected


def test_stream_message_without_content_length_is_an_error() -> None:
    with pytest.raises(SipParseError, match="Content-Length"):
        frame_length(b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a, b", ["a", "b"], id="plain"),
        pytest.param(
            '"Doe, J" <sip:j@x>, <sip:k@x>', ['"Doe, J" <sip:j@x>', "<sip:k@x>"], id="quoted"
        ),
        pytest.param("<sip:a@x;p=1,2>, <sip:b@x>", ["<sip:a@x;p=1,2>", "<sip:b@x>"], id="in-uri"),
    ],
)
def test_lists_split_outside_quotes_and_uris(value: str, expected: list[str]) -> None:
    assert split_list(value) == expected


@pytest.mark.parametrize(
    ("value", "uri", "params"),
    [
        pytest.param(
            "<sip:a@x;transport=tcp>;tag=9", "sip:a@x;transport=tcp", {"tag": "9"}, id="name-addr"
        ),
        pytest.param("sip:a@x;tag=9", "sip:a@x", {"tag": "9"}, id="addr-spec"),
        pytest.param('"A" <sip:a@x>', "sip:a@x", {}, id="display-name"),
    ],
)
def test_address_and_header_parameters(value: str, uri: str, params: dict[str, str]) -> None:
    assert address_uri(value) == uri
    assert header_params(value) == params


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param("pbx.example", ("pbx.example", 5060), id="default-port"),
        pytest.param("pbx.example:5080", ("pbx.example", 5080), id="port"),
        pytest.param("[2001:db8::1]:5070", ("2001:db8::1", 5070), id="ipv6-port"),
        pytest.param("[2001:db8::1]", ("2001:db8::1", 5060), id="ipv6"),
    ],
)
def test_targets(target: str, expected: tuple[str, int]) -> None:
    assert parse_target(target) == expected


@pytest.mark.parametrize("target", ["pbx:0", "pbx:70000", "pbx:sip"])
def test_bad_target_port_says_what_is_wrong(target: str) -> None:
    with pytest.raises(ValueError, match=r"sip\.target: port must be 1-65535"):
        parse_target(target)


def test_server_uri() -> None:
    assert server_uri("::1", 5060, "tcp") == "sip:[::1]:5060;transport=tcp"
    assert server_uri("pbx", 5060, "udp") == "sip:pbx:5060"


def test_local_address_in_via_and_contact() -> None:
    local = Local("::1", 40000, "TCP")
    assert local.via("z9hG4bK1") == "SIP/2.0/TCP [::1]:40000;branch=z9hG4bK1;rport"
    assert local.contact() == "<sip:cxj-probe@[::1]:40000;transport=tcp>"


def test_branches_carry_the_magic_cookie_and_differ() -> None:
    first, second = new_branch(), new_branch()
    assert first.startswith("z9hG4bK")
    assert first != second


LOCAL = Local("10.0.0.5", 5070, "UDP")


def dialog() -> Dialog:
    return Dialog(
        call_id="abc@10.0.0.5",
        local_uri="sip:cxj-probe@cxjourney.invalid",
        local_tag="111",
        remote_uri="sip:support@pbx.example",
        request_uri="sip:support@pbx.example",
        extra_headers=(("traceparent", "00-aa-bb-01"),),
    )


def test_initial_request_headers() -> None:
    invite = dialog().request("INVITE", LOCAL, branch="z9hG4bK1", body=b"v=0\r\n")
    wire = parse_message(encode(invite))
    assert wire.uri == "sip:support@pbx.example"
    assert wire.header("to") == "<sip:support@pbx.example>"
    assert wire.from_tag == "111"
    assert wire.cseq == (1, "INVITE")
    assert wire.header("max-forwards") == "70"
    assert wire.header("contact") == "<sip:cxj-probe@10.0.0.5:5070>"
    assert wire.header("traceparent") == "00-aa-bb-01"
    assert wire.header("content-length") == "5"
    assert b"\r\ntraceparent: 00-aa-bb-01\r\n" in encode(invite)


def test_confirmed_dialog_routes_in_dialog_requests() -> None:
    call = dialog()
    call.request("INVITE", LOCAL, branch="z9hG4bK1")
    call.confirm(parse_message(RINGING.replace(b"SIP/2.0 180 Ringing", b"SIP/2.0 200 OK")))
    bye = call.request("BYE", LOCAL, branch="z9hG4bK2", in_dialog=True)
    assert bye.uri == "sip:support@10.0.0.1:5080"  # the remote target (Contact)
    assert bye.values("route") == ["<sip:edge-b.example;lr>", "<sip:edge-a.example;lr>"]
    assert bye.to_tag == "222"
    assert bye.cseq == (2, "BYE")


def test_ack_for_a_failure_reuses_the_invite_transaction() -> None:
    invite = dialog().request("INVITE", LOCAL, branch="z9hG4bK1")
    busy = parse_message(
        b"SIP/2.0 486 Busy Here\r\nVia: " + LOCAL.via("z9hG4bK1").encode() + b"\r\n"
        b"To: <sip:support@pbx.example>;tag=xyz\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    ack = ack_for_failure(invite, busy)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.branch == "z9hG4bK1"
    assert ack.cseq == (1, "ACK")
    assert ack.to_tag == "xyz"
    assert ack.call_id == invite.call_id


def test_cancel_matches_the_invite_it_cancels() -> None:
    invite = dialog().request("INVITE", LOCAL, branch="z9hG4bK1")
    cancel = cancel_for(invite)
    assert (cancel.method, cancel.uri, cancel.branch) == ("CANCEL", invite.uri, "z9hG4bK1")
    assert cancel.cseq == (1, "CANCEL")
    assert cancel.header("to") == invite.header("to")
    assert cancel.header("from") == invite.header("from")


def test_response_copies_the_transaction_and_adds_a_to_tag() -> None:
    options = parse_message(
        b"OPTIONS sip:cxj-probe@10.0.0.5 SIP/2.0\r\nVia: SIP/2.0/UDP pbx;branch=z9hG4bKp\r\n"
        b"From: <sip:pbx>;tag=p1\r\nTo: <sip:cxj-probe@10.0.0.5>\r\nCall-ID: k\r\n"
        b"CSeq: 9 OPTIONS\r\n\r\n"
    )
    reply = response_to(options, 200, to_tag="111")
    assert (reply.status_code, reply.reason) == (200, "OK")
    assert reply.branch == "z9hG4bKp"
    assert reply.to_tag == "111"
    assert reply.cseq == (9, "OPTIONS")


def _request(method: str, call_id: str = "abc@10.0.0.5") -> SipMessage:
    return SipMessage(
        method=method,
        uri="sip:cxj-probe@10.0.0.5",
        headers=(
            ("via", "SIP/2.0/UDP pbx;branch=z9hG4bKq"),
            ("call-id", call_id),
            ("cseq", f"3 {method}"),
        ),
    )


@pytest.mark.parametrize(
    ("method", "call_id", "answered", "code", "ends"),
    [
        pytest.param("BYE", "abc@10.0.0.5", True, 200, True, id="far-end-hangs-up"),
        pytest.param("BYE", "other", True, 481, False, id="bye-for-another-call"),
        pytest.param("BYE", "abc@10.0.0.5", False, 481, False, id="bye-after-ours"),
        pytest.param("OPTIONS", "abc@10.0.0.5", True, 200, False, id="keepalive"),
        pytest.param("INVITE", "abc@10.0.0.5", True, 488, False, id="re-invite-refused"),
        pytest.param("MESSAGE", "abc@10.0.0.5", True, 501, False, id="unknown"),
    ],
)
def test_requests_from_the_server_are_answered(
    method: str, call_id: str, answered: bool, code: int, ends: bool
) -> None:
    reply, ended = answer_request(_request(method, call_id), dialog(), answered=answered)
    assert reply is not None
    assert reply.status_code == code
    assert ended is ends


def test_ack_from_the_server_gets_no_answer() -> None:
    assert answer_request(_request("ACK"), dialog(), answered=True) == (None, False)


def test_sdp_offer_is_g711_pcmu_on_the_local_address() -> None:
    offer = sdp_offer("10.0.0.5", 40002, 77).decode()
    assert "c=IN IP4 10.0.0.5\r\n" in offer
    assert "m=audio 40002 RTP/AVP 0\r\n" in offer
    assert "a=rtpmap:0 PCMU/8000\r\n" in offer
    assert offer.startswith("v=0\r\no=cxj-probe 77 77 IN IP4 10.0.0.5\r\n")
    assert "c=IN IP6 ::1" in sdp_offer("::1", 40002, 1).decode()
