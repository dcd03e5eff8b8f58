"""Digest authentication against the published examples of RFC 2617, RFC 7616 and RFC 2069."""

from __future__ import annotations

import re

import pytest

from cxj_probe.steps.sip.digest import (
    Challenge,
    Credentials,
    DigestError,
    authorization,
    choose,
    parse_challenge,
    response_value,
)

# RFC 7616 3.9.1: the same request answered with MD5 and with SHA-256.
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


@pytest.mark.parametrize(
    ("challenge", "password", "cnonce", "expected"),
    [
        pytest.param(
            Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093", qop=("auth",)),
            "Circle Of Life",
            "0a4f113b",
            "6629fae49393a05397450978507c4ef1",
            id="rfc2617-3.5",
        ),
        pytest.param(
            Challenge("http-auth@example.org", RFC7616_NONCE, "MD5", ("auth", "auth-int")),
            "Circle of Life",
            RFC7616_CNONCE,
            "8ca523f5e9506fed4657c9700eebdbec",
            id="rfc7616-md5",
        ),
        pytest.param(
            Challenge("http-auth@example.org", RFC7616_NONCE, "SHA-256", ("auth", "auth-int")),
            "Circle of Life",
            RFC7616_CNONCE,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            id="rfc7616-sha256",
        ),
        pytest.param(
            # RFC 2069 (no qop); the value is the corrected one from that RFC's errata.
            Challenge("testrealm@host.com", "dcd98b7102dd2f0e8b11d0f600bfb0c093"),
            "CircleOfLife",
            "",
            "1949323746fe6a43ef61f9606e7febea",
            id="rfc2069-no-qop",
        ),
    ],
)
def test_published_examples(
    challenge: Challenge, password: str, cnonce: str, expected: str
) -> None:
    response, _ = response_value(
        challenge,
        username="Mufasa",
        password=password,
        method="GET",
        uri="/dir/index.html",
        cnonce=cnonce,
        nonce_count=1,
    )
    assert response == expected


def invite_digest(challenge: Challenge, body: bytes = b"") -> tuple[str, str | None]:
    return response_value(
        challenge,
        username="u",
        password="p",
        method="INVITE",
        uri="sip:a@b",
        cnonce="c",
        nonce_count=1,
        body=body,
    )


def test_auth_int_hashes_the_body() -> None:
    challenge = Challenge("r", "n", qop=("auth-int",))
    one, qop = invite_digest(challenge, b"v=0")
    other, _ = invite_digest(challenge, b"v=1")
    assert qop == "auth-int"
    assert one != other


def test_auth_prefers_qop_auth_and_ignores_the_body() -> None:
    challenge = Challenge("r", "n", qop=("auth-int", "auth"))
    assert invite_digest(challenge, b"v=0") == invite_digest(challenge, b"v=1")
    assert invite_digest(challenge)[1] == "auth"


def test_sess_algorithm_differs_from_plain() -> None:
    plain, _ = invite_digest(Challenge("r", "n", "MD5", ("auth",)))
    sess, _ = invite_digest(Challenge("r", "n", "MD5-SESS", ("auth",)))
    assert plain != sess


def test_typical_sbc_challenge_is_parsed() -> None:
    challenge = parse_challenge(
        'Digest realm="sbc.example, east", nonce="a1b2", qop="auth,auth-int", '
        'algorithm=MD5, opaque="o\\"q", stale=TRUE'
    )
    assert challenge == Challenge(
        "sbc.example, east", "a1b2", "MD5", ("auth", "auth-int"), 'o"q', True
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param('Basic realm="x"', "only Digest", id="basic"),
        pytest.param('Digest nonce="n"', "without realm or nonce", id="no-realm"),
    ],
)
def test_unusable_challenges_are_named(value: str, message: str) -> None:
    with pytest.raises(DigestError, match=message):
        parse_challenge(value)


def test_strongest_supported_challenge_is_chosen() -> None:
    offered = [
        'Digest realm="r", nonce="1", algorithm=MD5, qop="auth"',
        'Digest realm="r", nonce="2", algorithm=SHA-256, qop="auth"',
        'Digest realm="r", nonce="3", algorithm=AKAv1-MD5, qop="auth"',
    ]
    assert choose(offered).algorithm == "SHA-256"


def test_no_supported_challenge_lists_what_was_offered() -> None:
    with pytest.raises(DigestError, match="AKAV1-MD5 qop=auth"):
        choose(['Digest realm="r", nonce="3", algorithm=AKAv1-MD5, qop="auth"'])


def test_authorization_header_carries_every_parameter() -> None:
    value = authorization(
        Challenge("r", "n", "MD5", ("auth",), opaque="op"),
        username="agent-7",
        password="pw",
        method="INVITE",
        uri="sip:support@pbx",
        cnonce="cn",
        nonce_count=2,
    )
    assert value.startswith("Digest ")
    expected = ['username="agent-7"', 'realm="r"', 'nonce="n"', 'uri="sip:support@pbx"']
    expected += ["algorithm=MD5", 'cnonce="cn"', "qop=auth", "nc=00000002", 'opaque="op"']
    for part in expected:
        assert part in value
    assert re.search(r'response="[0-9a-f]{32}"', value)


def test_credentials_count_nonce_uses() -> None:
    credentials = Credentials("u", "p", "cn")
    assert credentials.headers("INVITE", "sip:a@b") == ()  # nothing before a challenge
    credentials.use("proxy-authorization", Challenge("r", "n", qop=("auth",)))
    ((name, first),) = credentials.headers("INVITE", "sip:a@b")
    ((_, second),) = credentials.headers("BYE", "sip:a@b")
    assert name == "proxy-authorization"
    assert "nc=00000001" in first
    assert "nc=00000002" in second
