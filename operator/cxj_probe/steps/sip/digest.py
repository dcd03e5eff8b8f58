"""Digest access authentication for SIP (RFC 3261 22, RFC 2617, RFC 8760): pure functions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')

# The hash of each algorithm (RFC 8760 3); stronger first, which is the order of preference.
_HASHES: dict[str, Callable[[bytes], str]] = {
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "MD5": lambda data: hashlib.md5(data, usedforsecurity=False).hexdigest(),
}


class DigestError(ValueError):
    """A challenge this client cannot answer."""


@dataclass(frozen=True)
class Challenge:
    """One Digest challenge from a WWW-Authenticate or Proxy-Authenticate header."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def base_algorithm(self) -> str:
        """The algorithm without its -sess suffix."""
        return self.algorithm.upper().removesuffix("-SESS")

    @property
    def supported(self) -> bool:
        """Whether this client can compute a response to it."""
        return self.base_algorithm in _HASHES and (
            not self.qop or bool({"auth", "auth-int"} & set(self.qop))
        )


def parse_challenge(value: str) -> Challenge:
    """Reads a Digest challenge header value.

    Raises:
        DigestError: when the scheme is not Digest or realm or nonce is missing.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"the server asks for {scheme} authentication; only Digest is supported")
    params = {m.group(1).lower(): _unquote(m) for m in _PARAM.finditer(rest) if m.group(0)}
    if "realm" not in params or "nonce" not in params:
        raise DigestError(f"a Digest challenge without realm or nonce: {value[:120]!r}")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=params.get("algorithm", "MD5").upper(),
        qop=tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def _unquote(match: re.Match[str]) -> str:
    if match.group(2) is not None:
        return re.sub(r"\\(.)", r"\1", match.group(2))
    return match.group(3) or ""


def choose(values: list[str]) -> Challenge:
    """The challenge to answer among those offered: the strongest supported algorithm.

    Raises:
        DigestError: when none can be answered, naming what was offered.
    """
    parsed = [parse_challenge(v) for v in values]
    usable = [c for c in parsed if c.supported]
    if not usable:
        offered = ", ".join(f"{c.algorithm} qop={','.join(c.qop) or 'none'}" for c in parsed)
        raise DigestError(f"no supported Digest challenge among: {offered or 'none'}")
    order = list(_HASHES)
    return min(usable, key=lambda c: order.index(c.base_algorithm))


def response_value(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nonce_count: int,
    body: bytes = b"",
) -> tuple[str, str | None]:
    """The request-digest and the qop it was computed with (RFC 2617 3.2.2, RFC 7616 3.4.1)."""
    digest = _HASHES[challenge.base_algorithm]
    ha1 = digest(f"{username}:{challenge.realm}:{password}".encode())
    if challenge.algorithm.upper().endswith("-SESS"):
        ha1 = digest(f"{ha1}:{challenge.nonce}:{cnonce}".encode())
    qop = "auth" if "auth" in challenge.qop else ("auth-int" if challenge.qop else None)
    a2 = f"{method}:{uri}"
    if qop == "auth-int":
        a2 += f":{digest(body)}"
    ha2 = digest(a2.encode())
    if qop is None:
        return digest(f"{ha1}:{challenge.nonce}:{ha2}".encode()), None
    nc = f"{nonce_count:08x}"
    return digest(f"{ha1}:{challenge.nonce}:{nc}:{cnonce}:{qop}:{ha2}".encode()), qop


def authorization(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str,
    nonce_count: int = 1,
    body: bytes = b"",
) -> str:
    """The Authorization (or Proxy-Authorization) value answering a challenge."""
    response, qop = response_value(
        challenge,
        username=username,
        password=password,
        method=method,
        uri=uri,
        cnonce=cnonce,
        nonce_count=nonce_count,
        body=body,
    )
    parts = [
        f'username="{_quote(username)}"',
        f'realm="{_quote(challenge.realm)}"',
        f'nonce="{_quote(challenge.nonce)}"',
        f'uri="{_quote(uri)}"',
        f'response="{response}"',
        f"algorithm={challenge.algorithm}",
    ]
    if qop is not None:
        parts += [f'cnonce="{_quote(cnonce)}"', f"qop={qop}", f"nc={nonce_count:08x}"]
    if challenge.opaque is not None:
        parts.append(f'opaque="{_quote(challenge.opaque)}"')
    return "Digest " + ", ".join(parts)


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


class Credentials:
    """A user's password and the challenge it answers, counting nonce uses (nc)."""

    def __init__(self, username: str, password: str, cnonce: str) -> None:
        self.username = username
        self._password = password
        self._cnonce = cnonce
        self._header: str | None = None
        self._challenge: Challenge | None = None
        self._nonce_count = 0

    def use(self, header: str, challenge: Challenge) -> None:
        """Answers this challenge from now on, in header (authorization or proxy-...)."""
        self._header, self._challenge, self._nonce_count = header, challenge, 0

    def headers(self, method: str, uri: str, body: bytes = b"") -> tuple[tuple[str, str], ...]:
        """The credential header for a request, none before the first challenge."""
        if self._header is None or self._challenge is None:
            return ()
        self._nonce_count += 1
        value = authorization(
            self._challenge,
            username=self.username,
            password=self._password,
            method=method,
            uri=uri,
            cnonce=self._cnonce,
            nonce_count=self._nonce_count,
            body=body,
        )
        return ((self._header, value),)
