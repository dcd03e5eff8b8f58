"""The simulated contact center's SIP side: SIPp as a user agent server on UDP.

It answers OPTIONS with 200, and a call with 100 Trying, 180 Ringing and, after a short
ring, 200 OK with an SDP answer; then it takes the ACK and answers the caller's BYE. Without
SIPp the endpoint says so and stays down: SIP steps then fail with a refused connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

SIPP = "/usr/bin/sipp"
RING_MS = 300
START_TIMEOUT_S = 10.0
# A call whose caller vanishes mid-dialog is dropped after this long, so none piles up.
RECEIVE_TIMEOUT_MS = 600_000

_TO_TAG = "[last_To:];tag=cxj[pid]-[call_number]"
_DIALOG = "[last_Via:]\n[last_From:]\n{to}\n[last_Call-ID:]\n[last_CSeq:]"
_CONTACT = "Contact: <sip:support@[local_ip]:[local_port];transport=[transport]>"
_SDP = """v=0
o=cxj 1 1 IN IP[local_ip_type] [local_ip]
s=cx demo
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""


def _reply(
    status: str,
    *extra: str,
    to: str = _TO_TAG,
    body: str = "",
    retrans: bool = False,
    next_label: str = "",
) -> str:
    """A <send> of a response to the last request, in SIPp's template language."""
    lines = [f"SIP/2.0 {status}", _DIALOG.format(to=to), *extra, "Content-Length: [len]"]
    attributes = ' retrans="500"' if retrans else ""
    attributes += f' next="{next_label}"' if next_label else ""
    return f"  <send{attributes}><![CDATA[\n\n" + "\n".join(lines) + "\n\n" + body + "]]></send>\n"


SCENARIO = (
    '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
    '<scenario name="cxj demo contact center">\n'
    # A call starts with OPTIONS or INVITE: the optional first receive lets either in.
    '  <recv request="OPTIONS" optional="true" next="options"/>\n'
    '  <recv request="INVITE" crlf="true"/>\n'
    + _reply("100 Trying")
    + _reply("180 Ringing", _CONTACT)
    + f'  <pause milliseconds="{RING_MS}"/>\n'
    + _reply("200 OK", _CONTACT, "Content-Type: application/sdp", body=_SDP, retrans=True)
    + '  <recv request="ACK" crlf="true"/>\n'
    '  <recv request="BYE"/>\n'
    + _reply("200 OK", to="[last_To:]", next_label="end")
    + '  <label id="options"/>\n'
    + _reply("200 OK", "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS", "Accept: application/sdp")
    + '  <label id="end"/>\n'
    "</scenario>\n"
)


class SipEndpoint:
    """SIPp answering OPTIONS and calls on one UDP address, as a child process."""

    def __init__(self, host: str, port: int, sipp: str = SIPP) -> None:
        self.host = host
        self.port = port
        self.sipp = sipp
        self.unavailable: str | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._folder: Path | None = None

    @property
    def status(self) -> str:
        """running, or why the endpoint is not answering."""
        if self.unavailable is not None:
            return f"unavailable: {self.unavailable}"
        if self._process is None:
            return "stopped"
        if self._process.returncode is not None:
            return f"down: SIPp exited with code {self._process.returncode}; {self._log_tail()}"
        return "running"

    async def start(self) -> None:
        """Starts SIPp and waits until it answers an OPTIONS ping.

        Without a SIPp executable it logs why and returns, leaving SIP steps to fail.

        Raises:
            RuntimeError: when SIPp exits at start or does not answer in time, with its log.
        """
        if shutil.which(self.sipp) is None:
            self.unavailable = (
                f"SIPp not found at {self.sipp}; install it (Debian/Ubuntu package "
                f"sip-tester) for the SIP steps to be answered"
            )
            log.warning("sip endpoint %s", self.unavailable)
            return
        self._folder = Path(tempfile.mkdtemp(prefix="cxj-demo-sip-"))
        scenario = self._folder / "contact-center.xml"
        scenario.write_text(SCENARIO, encoding="ascii")
        argv = [
            self.sipp, "-sf", str(scenario), "-i", self.host, "-mi", self.host, "-bind_local",
            "-p", str(self.port), "-t", "u1", "-nostdin", "-nd",
            "-recv_timeout", str(RECEIVE_TIMEOUT_MS),
            "-trace_err", "-error_file", str(self._folder / "errors.log"),
            "-max_log_size", str(1 << 20), "-ringbuffer_files", "1",
        ]  # fmt: skip
        with (self._folder / "sipp.log").open("wb") as output:
            # SIPp repaints its screen on stdout every second: only stderr is worth keeping.
            self._process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=output,
                cwd=self._folder,
                start_new_session=True,
            )
        try:
            await self._until_answering()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stops SIPp (SIGTERM, then SIGKILL) and removes its working folder."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=5.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    async def _until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.returncode is not None:
                raise RuntimeError(
                    f"sip endpoint: SIPp exited at start with code {self._process.returncode} "
                    f"(is udp {self.host}:{self.port} free?): {self._log_tail()}"
                )
            if await asyncio.to_thread(_answers_options, self.host, self.port):
                return
            await asyncio.sleep(0.05)  # refused at once while SIPp is still binding
        raise RuntimeError(
            f"sip endpoint: SIPp did not answer OPTIONS on udp {self.host}:{self.port} within "
            f"{START_TIMEOUT_S:g}s: {self._log_tail()}"
        )

    def _log_tail(self) -> str:
        if self._folder is None:
            return "no log"
        try:
            text = (self._folder / "sipp.log").read_text(errors="replace").strip()
        except OSError:
            return "no log"
        return text[-600:] or "its log is empty"


def _answers_options(host: str, port: int, wait_s: float = 0.2) -> bool:
    """Whether a SIP OPTIONS sent to host:port gets a 200 within wait_s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        sock.settimeout(wait_s)
        local_port = sock.getsockname()[1]
        call_id = secrets.token_hex(8)
        request = (
            f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{local_port};branch=z9hG4bK{call_id};rport\r\n"
            f"From: <sip:stack@{host}>;tag={call_id}\r\n"
            f"To: <sip:support@{host}>\r\n"
            f"Call-ID: {call_id}@{host}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        try:
            sock.sendto(request.encode(), (host, port))
            reply = sock.recv(65535)
        except (TimeoutError, ConnectionRefusedError):
            return False
        return reply.startswith(b"SIP/2.0 200")
