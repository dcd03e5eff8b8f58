"""The sip step against SIPp as the real peer: OPTIONS, calls, busy, no answer, digest auth."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from tests.harness.processes import free_port, log_tail

from cxj_journey.model import SecretRef, SipAuth, SipStep, Step
from cxj_probe.steps.base import StepContext, StepOutcome
from cxj_probe.steps.sip import run_sip

SIPP = "/usr/bin/sipp"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# Scenarios check the probe's traceparent header (check_it fails the call without it) and
# echo it back, as SIPp wants every variable it assigns used.
_CHECK_TRACEPARENT = """
    <action>
      <ereg regexp="00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]" search_in="hdr" header="traceparent:"
            check_it="true" assign_to="traceparent"/>
    </action>"""

_ECHO = "X-Traceparent-Seen: [$traceparent]"

_REPLY_HEADERS = """[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]"""


def _reply(status: str, extra: str = "", body: str = "") -> str:
    """A response to the last request, in SIPp's template language."""
    contact = "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>"
    lines = [status, _REPLY_HEADERS, contact]
    if extra:
        lines.append(extra)
    lines.append("Content-Length: [len]")
    return "<send><![CDATA[\n\n" + "\n".join(lines) + "\n\n" + body + "]]></send>\n"


_SDP_ANSWER = """v=0
o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""

_ANSWER_AND_HANG_UP_ON_BYE = (
    '<pause milliseconds="200"/>\n'
    + _reply("SIP/2.0 200 OK", "Content-Type: application/sdp", _SDP_ANSWER).replace(
        "<send>", '<send retrans="500">'
    )
    + '<recv request="ACK" crlf="true"/>\n'
    + '<recv request="BYE"/>\n'
    + _reply("SIP/2.0 200 OK")
)


def _scenario(name: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        f'<scenario name="{name}">\n{body}</scenario>\n'
    )


def options_scenario(code: str = "200 OK") -> str:
    return _scenario(
        "options",
        f'<recv request="OPTIONS">{_CHECK_TRACEPARENT}</recv>\n'
        + _reply(f"SIP/2.0 {code}", f"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\n{_ECHO}"),
    )


CALL = _scenario(
    "call",
    f'<recv request="INVITE" crlf="true">{_CHECK_TRACEPARENT}</recv>\n'
    + _reply("SIP/2.0 100 Trying", _ECHO)
    + _reply("SIP/2.0 180 Ringing")
    + _ANSWER_AND_HANG_UP_ON_BYE,
)

BUSY = _scenario(
    "busy",
    '<recv request="INVITE" crlf="true"/>\n'
    + _reply("SIP/2.0 100 Trying")
    + _reply("SIP/2.0 486 Busy Here")
    + '<recv request="ACK"/>\n',
)

# Rings until the probe gives up; the CANCEL is answered 200, the INVITE 487, then ACKed.
RING_FOREVER = _scenario(
    "ring-forever",
    '<recv request="INVITE" crlf="true"/>\n'
    + _reply("SIP/2.0 100 Trying")
    + _reply("SIP/2.0 180 Ringing")
    + """<recv request="CANCEL">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="number"/>
    </action>
  </recv>
"""
    + _reply("SIP/2.0 200 OK")
    + _reply("SIP/2.0 487 Request Terminated").replace("[last_CSeq:]", "CSeq: [$number] INVITE")
    + '<recv request="ACK"/>\n',
)

# Answers, then hangs up from its side 200 ms into the call and expects 200 for its BYE.
HANG_UP_EARLY = _scenario(
    "hang-up-early",
    """<recv request="INVITE">
    <action>
      <ereg regexp="sip:[^>]*" search_in="hdr" header="Contact:" assign_to="contact"/>
      <ereg regexp="tag=[0-9a-f]+" search_in="hdr" header="From:" assign_to="their_tag"/>
    </action>
  </recv>
"""
    + _reply("SIP/2.0 200 OK", "Content-Type: application/sdp", _SDP_ANSWER)
    + """<recv request="ACK"/>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[

BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:support@127.0.0.1>;tag=[pid]SIPpTag01[call_number]
To: <sip:cxj-probe@cxjourney.invalid>;[$their_tag]
[last_Call-ID:]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
""",
)

_CHALLENGE = (
    'WWW-Authenticate: Digest realm="cxjourney.test", '
    'nonce="5f2b8c1e9d7a4b3c2e1f0a9b8c7d6e5f", qop="auth", algorithm=MD5'
)

# 401 with a Digest challenge; a good answer gets the call, a bad one another 401.
CHALLENGE = _scenario(
    "challenge",
    '<recv request="INVITE"/>\n'
    + _reply("SIP/2.0 401 Unauthorized", _CHALLENGE)
    + '<recv request="ACK"/>\n'
    + """<recv request="INVITE">
    <action>
      <verifyauth assign_to="authvalid" username="agent-7" password="s3cret-pw"/>
    </action>
  </recv>
  <nop hide="true" test="authvalid" next="accepted"/>
"""
    + _reply("SIP/2.0 401 Unauthorized", _CHALLENGE)
    + '<recv request="ACK" next="end"/>\n'
    + '<label id="accepted"/>\n'
    + _reply("SIP/2.0 100 Trying")
    + _ANSWER_AND_HANG_UP_ON_BYE
    + '<label id="end"/>\n',
)


@dataclass
class Sipp:
    """One SIPp UAS process running a scenario."""

    port: int
    popen: subprocess.Popen[bytes]
    folder: Path

    def wait(self, timeout: float = 15.0) -> int:
        """Waits for SIPp to finish its one call; returns its exit code (0: call succeeded)."""
        return self.popen.wait(timeout)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{log_tail(path, 80)}" for path in sorted(self.folder.glob("*.log"))
        )


def _listening(pid: int, port: int, transport: str) -> bool:
    kind = "tcp" if transport == "tcp" else "udp"
    connections = psutil.Process(pid).net_connections(kind=kind)
    return any(c.laddr and c.laddr.port == port for c in connections)


@pytest.fixture
def sipp(tmp_path: Path) -> Iterator[Callable[..., Sipp]]:
    """Starts SIPp on 127.0.0.1 with a scenario; kills it after the test."""
    started: list[Sipp] = []

    def start(scenario: str, transport: str = "udp") -> Sipp:
        folder = tmp_path / f"sipp-{len(started)}"
        folder.mkdir()
        (folder / "scenario.xml").write_text(scenario)
        port = free_port()
        argv = [
            SIPP, "-sf", str(folder / "scenario.xml"),
            "-i", "127.0.0.1", "-bind_local", "-p", str(port),
            "-t", "t1" if transport == "tcp" else "u1",
            "-m", "1", "-timeout", "20s", "-timeout_error", "-nostdin",
            "-trace_err", "-error_file", str(folder / "errors.log"),
            "-trace_msg", "-message_file", str(folder / "messages.log"),
        ]  # fmt: skip
        with (folder / "screen.log").open("wb") as screen:
            popen = subprocess.Popen(
                argv,
                stdout=screen,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=folder,
                start_new_session=True,
            )
        server = Sipp(port, popen, folder)
        started.append(server)
        deadline = time.monotonic() + 10
        while not _listening(popen.pid, port, transport):
            assert popen.poll() is None, f"SIPp exited at start:\n{server.logs()}"
            assert time.monotonic() < deadline, f"SIPp not listening:\n{server.logs()}"
            time.sleep(0.05)
        return server

    yield start
    for server in started:
        if server.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.popen.pid, signal.SIGKILL)
            server.popen.wait(5)


def sip_step(
    port: int,
    *,
    mode: str = "options",
    transport: str = "udp",
    hold_for_s: float = 0.0,
    expect_code: int = 200,
    auth: SipAuth | None = None,
    timeout_s: float = 5.0,
) -> Step:
    action = SipStep(
        target=f"127.0.0.1:{port}",
        mode=mode,
        transport=transport,
        to="sip:support@127.0.0.1",
        from_uri="sip:cxj-probe@cxjourney.invalid",
        hold_for_s=hold_for_s,
        expect_code=expect_code,
        auth=auth,
    )
    return Step("sip", "sip", "platform", timeout_s, None, (), action)


def run(step: Step, secrets: dict[tuple[str, str], str] | None = None) -> StepOutcome:
    def secret(name: str, key: str) -> str:
        return (secrets or {})[(name, key)]

    context = StepContext({}, secret, {"traceparent": TRACEPARENT}, step.timeout_s)
    return asyncio.run(run_sip(step, context))


def phases(outcome: StepOutcome) -> dict[str, float]:
    return {p.name: (p.end_ns - p.start_ns) / 1e9 for p in outcome.phases}


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_options_ping_succeeds_and_carries_traceparent(
    sipp: Callable[..., Sipp], transport: str
) -> None:
    server = sipp(options_scenario(), transport)
    outcome = run(sip_step(server.port, transport=transport))
    assert outcome.ok, outcome.error_message
    assert list(phases(outcome)) == ["options"]
    assert outcome.attributes["sip.response.status_code"] == 200
    assert outcome.attributes["sip.method"] == "OPTIONS"
    assert outcome.attributes["network.transport"] == transport
    assert outcome.attributes["server.port"] == server.port
    assert server.wait() == 0, server.logs()  # SIPp saw a valid OPTIONS with traceparent


def test_options_other_code_is_a_sip_status_failure(sipp: Callable[..., Sipp]) -> None:
    server = sipp(options_scenario("404 Not Found"))
    outcome = run(sip_step(server.port))
    assert outcome.error_type == "sip_status"
    assert outcome.attributes["sip.response.status_code"] == 404
    assert "404 Not Found" in (outcome.error_message or "")


def test_options_expect_code_makes_another_code_a_success(sipp: Callable[..., Sipp]) -> None:
    server = sipp(options_scenario("404 Not Found"))
    outcome = run(sip_step(server.port, expect_code=404))
    assert outcome.ok, outcome.error_message


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_call_times_setup_holds_and_hangs_up(sipp: Callable[..., Sipp], transport: str) -> None:
    server = sipp(CALL, transport)
    outcome = run(sip_step(server.port, mode="call", transport=transport, hold_for_s=0.3))
    assert outcome.ok, f"{outcome.error_message}\n{server.logs()}"
    timed = phases(outcome)
    assert list(timed) == ["setup", "hold", "teardown"]
    # SIPp pauses 200 ms before answering: the call-setup time includes that wait.
    assert outcome.measurements["sip.call_setup_time"] >= 0.2
    assert outcome.measurements["sip.post_dial_delay"] < outcome.measurements["sip.call_setup_time"]
    assert timed["hold"] >= 0.3
    assert outcome.attributes["sip.response.status_code"] == 200
    assert server.wait() == 0, server.logs()  # ACK and BYE arrived as the scenario expects


def test_busy_here_is_busy(sipp: Callable[..., Sipp]) -> None:
    server = sipp(BUSY)
    outcome = run(sip_step(server.port, mode="call"))
    assert outcome.error_type == "busy"
    assert outcome.attributes["sip.response.status_code"] == 486
    assert "486 Busy Here" in (outcome.error_message or "")
    assert server.wait() == 0, server.logs()  # the 486 was ACKed


def test_ringing_without_answer_is_no_answer_and_is_cancelled(sipp: Callable[..., Sipp]) -> None:
    server = sipp(RING_FOREVER)
    outcome = run(sip_step(server.port, mode="call", timeout_s=2.0))
    assert outcome.error_type == "no_answer", outcome.error_message
    assert "180 Ringing" in (outcome.error_message or "")
    assert outcome.attributes["sip.cancel.status_code"] == 200
    assert outcome.duration_s < 2.0  # the cancel fitted in the step's timeout
    assert server.wait() == 0, server.logs()  # CANCEL, then the 487 ACKed


def test_digest_challenge_is_answered(sipp: Callable[..., Sipp]) -> None:
    server = sipp(CHALLENGE)
    auth = SipAuth("agent-7", SecretRef("sip-credentials", "password"))
    step = sip_step(server.port, mode="call", auth=auth)
    outcome = run(step, {("sip-credentials", "password"): "s3cret-pw"})
    assert outcome.ok, f"{outcome.error_message}\n{server.logs()}"
    assert outcome.measurements["sip.call_setup_time"] >= 0.2
    assert server.wait() == 0, server.logs()


def test_wrong_password_is_auth(sipp: Callable[..., Sipp]) -> None:
    server = sipp(CHALLENGE)
    auth = SipAuth("agent-7", SecretRef("sip-credentials", "password"))
    step = sip_step(server.port, mode="call", auth=auth)
    outcome = run(step, {("sip-credentials", "password"): "wrong"})
    assert outcome.error_type == "auth"
    assert "agent-7" in (outcome.error_message or "")
    assert server.wait() == 0, server.logs()


def test_challenge_without_credentials_is_auth(sipp: Callable[..., Sipp]) -> None:
    server = sipp(CHALLENGE)
    outcome = run(sip_step(server.port, mode="call"))
    assert outcome.error_type == "auth"
    assert "set sip.auth" in (outcome.error_message or "")


def test_far_end_hanging_up_during_the_hold_is_closed(sipp: Callable[..., Sipp]) -> None:
    server = sipp(HANG_UP_EARLY)
    outcome = run(sip_step(server.port, mode="call", hold_for_s=5.0, timeout_s=10.0))
    assert outcome.error_type == "closed", outcome.error_message
    assert "hung up" in (outcome.error_message or "")
    assert list(phases(outcome)) == ["setup", "hold"]
    assert phases(outcome)["hold"] < 5.0
    assert server.wait() == 0, server.logs()  # the probe answered the BYE with 200


def test_cancelled_during_hold_still_hangs_up(sipp: Callable[..., Sipp]) -> None:
    server = sipp(CALL)
    step = sip_step(server.port, mode="call", hold_for_s=5.0, timeout_s=10.0)
    context = StepContext({}, lambda n, k: "", {"traceparent": TRACEPARENT}, step.timeout_s)

    async def cut_short() -> None:
        async with asyncio.timeout(1.0):  # as the run loop enforces a step's timeout
            await run_sip(step, context)

    with pytest.raises(TimeoutError):
        asyncio.run(cut_short())
    assert server.wait() == 0, server.logs()  # the BYE was sent on the way out


def test_nothing_listening_over_udp_is_connection_refused() -> None:
    outcome = run(sip_step(free_port()))
    assert outcome.error_type == "connection_refused"


def test_nothing_listening_over_tcp_is_connection_refused() -> None:
    outcome = run(sip_step(free_port(), transport="tcp"))
    assert outcome.error_type == "connection_refused"


def test_silent_server_gets_retransmissions_then_timeout() -> None:
    """A server that never answers: OPTIONS is resent at doubling intervals (Timer E)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(0.05)
        outcome = run(sip_step(silent.getsockname()[1], timeout_s=2.0))
        received = 0
        with contextlib.suppress(TimeoutError):
            while True:
                silent.recvfrom(65535)
                received += 1
    assert outcome.error_type == "timeout"
    assert outcome.attributes["sip.retransmissions"] == 2  # at 0.5 s and 1.5 s
    assert received == 3
