"""SIP messages (an RFC 3261 subset): parsing, encoding, header fields and the SDP offer."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace

from cxj_journey import __version__

USER_AGENT = f"cxjourney-probe/{__version__}"

# RFC 3261 7.3.3 compact forms, expanded when parsing.
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}
# Spelling used when encoding; other names are written as given.
_CANONICAL = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "max-forwards": "Max-Forwards",
    "content-length": "Content-Length",
    "content-type": "Content-Type",
    "www-authenticate": "WWW-Authenticate",
    "proxy-authenticate": "Proxy-Authenticate",
    "authorization": "Authorization",
    "proxy-authorization": "Proxy-Authorization",
    "record-route": "Record-Route",
    "route": "Route",
    "user-agent": "User-Agent",
    "traceparent": "traceparent",
    "tracestate": "tracestate",
}
_MAGIC_COOKIE = "z9hG4bK"  # RFC 3261 8.1.1.7: marks a branch as globally unique
_STATUS_LINE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?$")
_REQUEST_LINE = re.compile(r"([A-Za-z]+) (\S+) SIP/2\.0$")
_HEAD_END = b"\r\n\r\n"


class SipParseError(ValueError):
    """Bytes that are not a SIP message this client can read."""


@dataclass(frozen=True)
class SipMessage:
    """A request or a response; header names are stored lower-case, compact forms expanded."""

    method: str | None = None
    uri: str | None = None
    status_code: int | None = None
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        """Whether this is a request (else a response)."""
        return self.method is not None

    def header(self, name: str) -> str | None:
        """The first value of a header, or None."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def raw_values(self, name: str) -> list[str]:
        """Every value of a header as received (one per header line)."""
        wanted = name.lower()
        return [v for k, v in self.headers if k == wanted]

    def values(self, name: str) -> list[str]:
        """Every value of a header, comma-separated lists split (Via, Route, Record-Route)."""
        wanted = name.lower()
        return [item for k, v in self.headers if k == wanted for item in split_list(v)]

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.header("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        """The CSeq number and method."""
        number, _, method = (self.header("cseq") or "").partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError:
            return -1, method.strip().upper()

    @property
    def branch(self) -> str | None:
        """The top Via's branch parameter."""
        vias = self.values("via")
        return header_params(vias[0]).get("branch") if vias else None

    @property
    def to_tag(self) -> str | None:
        """The To header's tag."""
        return header_params(self.header("to") or "").get("tag")

    @property
    def from_tag(self) -> str | None:
        """The From header's tag."""
        return header_params(self.header("from") or "").get("tag")

    def with_headers(self, *extra: tuple[str, str]) -> SipMessage:
        """A copy with headers appended."""
        return replace(self, headers=(*self.headers, *((k.lower(), v) for k, v in extra)))


def new_branch() -> str:
    """A fresh RFC 3261 branch: the magic cookie, then randomness."""
    return _MAGIC_COOKIE + secrets.token_hex(10)


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A fresh Call-ID, unique across probes: random@local-address."""
    return f"{secrets.token_hex(16)}@{host}"


def split_list(value: str) -> list[str]:
    """Splits a comma-separated header value, ignoring commas in quotes and <URIs>."""
    items: list[str] = []
    current: list[str] = []
    quoted = bracketed = False
    for char in value:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            bracketed = True
        elif char == ">" and not quoted:
            bracketed = False
        if char == "," and not quoted and not bracketed:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def header_params(value: str) -> dict[str, str]:
    """The ;name=value parameters of a header value (after the <URI> when there is one)."""
    tail = value[value.index(">") + 1 :] if "<" in value and ">" in value else value
    params: dict[str, str] = {}
    for part in tail.split(";")[1:]:
        name, _, param = part.partition("=")
        params[name.strip().lower()] = param.strip().strip('"')
    return params


def address_uri(value: str) -> str:
    """The URI of a name-addr or addr-spec: <sip:a@b>;tag=x and sip:a@b;tag=x give sip:a@b."""
    if "<" in value:
        return value[value.index("<") + 1 : value.index(">")]
    return value.split(";", 1)[0].strip()


def parse_message(data: bytes) -> SipMessage:
    """Parses one whole SIP message (a datagram, or one framed from a stream).

    Raises:
        SipParseError: when the start line or a header cannot be read.
    """
    head, separator, body = data.partition(_HEAD_END)
    if not separator:
        raise SipParseError("no blank line after the headers")
    lines = head.decode("utf-8", "replace").split("\r\n")
    start = lines[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # a folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise SipParseError(f"malformed header line {line[:80]!r}")
        key = name.strip().lower()
        headers.append((_COMPACT.get(key, key), value.strip()))
    length = next((v for k, v in headers if k == "content-length"), None)
    if length is not None and length.isdigit():
        body = body[: int(length)]
    if match := _STATUS_LINE.match(start):
        return SipMessage(
            status_code=int(match.group(1)),
            reason=match.group(2) or "",
            headers=tuple(headers),
            body=body,
        )
    if match := _REQUEST_LINE.match(start):
        return SipMessage(
            method=match.group(1).upper(), uri=match.group(2), headers=tuple(headers), body=body
        )
    raise SipParseError(f"not a SIP start line: {start[:80]!r}")


def frame_length(buffer: bytes) -> int | None:
    """The length of the first whole message in a stream buffer, None while incomplete.

    Raises:
        SipParseError: when the headers end without a readable Content-Length, which a
            stream transport requires (RFC 3261 18.3).
    """
    end = buffer.find(_HEAD_END)
    if end < 0:
        return None
    head = buffer[:end].decode("utf-8", "replace")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in ("content-length", "l"):
            if not value.strip().isdigit():
                raise SipParseError(f"bad Content-Length {value.strip()!r}")
            total = end + len(_HEAD_END) + int(value.strip())
            return total if len(buffer) >= total else None
    raise SipParseError("a message on a stream transport lacks Content-Length")


def encode(message: SipMessage) -> bytes:
    """The wire form of a message; Content-Length is computed, never taken from headers."""
    if message.is_request:
        start = f"{message.method} {message.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {message.status_code} {message.reason}"
    lines = [start]
    lines += [
        f"{_CANONICAL.get(name, name.title())}: {value}"
        for name, value in message.headers
        if name != "content-length"
    ]
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + message.body


@dataclass(frozen=True)
class Local:
    """Where this client sends from: the Via sent-by and Contact address."""

    host: str
    port: int
    transport: str  # UDP or TCP

    @property
    def hostport(self) -> str:
        """host:port, an IPv6 address in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def via(self, branch: str) -> str:
        """A Via value with rport (RFC 3581), so a server behind NAT answers the right port."""
        return f"SIP/2.0/{self.transport} {self.hostport};branch={branch};rport"

    def contact(self, user: str = "cxj-probe") -> str:
        """The Contact value for this client."""
        suffix = ";transport=tcp" if self.transport == "TCP" else ""
        return f"<sip:{user}@{self.hostport}{suffix}>"
