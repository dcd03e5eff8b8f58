"""Redaction: personal data never leaves the processor unless the policy explicitly allows it."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxj_journey import schema
from cxj_processors.conversations import encode
from cxj_processors.conversations.analyzer import ConversationAnalyzer
from cxj_processors.conversations.model import AGENT, CUSTOMER, Conversation, Dimensions, Segment
from cxj_processors.conversations.policy import (
    KIND,
    ConversationPolicy,
    default_policy,
    parse_policy,
)
from cxj_processors.conversations.redact import Redactor, luhn_valid, redactor_for


def policy(redaction: dict[str, Any]) -> ConversationPolicy:
    return parse_policy(
        {"apiVersion": schema.API_VERSION, "kind": KIND, "metadata": {"name": "p"},
         "spec": {"redaction": redaction}}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5555555555554444", True),  # Mastercard test number
        ("378282246310005", True),  # Amex test number
        ("6011111111111117", True),  # Discover test number
        ("4111111111111112", False),
        ("1234567812345678", False),
        ("79927398713", True),  # the classic worked example
    ],
    ids=str,
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


CASES = [
    ("email", "write to jane.doe+cx@mail.example.co.uk please", "write to [EMAIL] please"),
    ("card-with-spaces", "my card is 4111 1111 1111 1111 thanks", "my card is [CARD] thanks"),
    ("card-with-dashes", "5555-5555-5555-4444", "[CARD]"),
    ("amex-grouped", "it's 3782 822463 10005.", "it's [CARD]."),
    ("card-then-cvv", "4111111111111111 123", "[CARD] 123"),
    ("not-luhn-is-not-a-card", "tracking 4111 1111 1111 1112", "tracking 4111 1111 1111 1112"),
    ("international-phone", "call +44 20 7946 0958 now", "call [PHONE] now"),
    ("us-phone", "(555) 123-4567", "[PHONE]"),
    ("dotted-phone", "555.123.4567", "[PHONE]"),
    ("phone-and-card-in-one-run", "07700 900123 4111 1111 1111 1111", "[PHONE] [CARD]"),
    (
        "short-numbers-stay",
        "order 12345 costs 1,250.00 at 10:30",
        "order 12345 costs 1,250.00 at 10:30",
    ),
    ("dates-stay", "on 2026-01-05 or 05/01/2026", "on 2026-01-05 or 05/01/2026"),
    ("nothing-personal", "I'd like to update my address", "I'd like to update my address"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_builtin_redaction(text: str, expected: str) -> None:
    assert Redactor().redact(text) == expected


def test_configured_patterns_run_first_and_replace_literally() -> None:
    redactor = redactor_for(
        policy(
            {
                "patterns": [
                    {"name": "account-number", "regex": r"\bACC-[0-9]{8}\b"},
                    {"name": "ticket", "regex": "TCK[0-9]+", "replacement": r"[T\1]"},
                ]
            }
        )
    )
    assert redactor.redact("ACC-12345678 and TCK991") == r"[ACCOUNT-NUMBER] and [T\1]"


def luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(alphabet="0123456789", min_size=14, max_size=14),
    separator=st.sampled_from(["", " ", "-", " - ", "."]),
    before=st.text(alphabet="abc xyz,.!?", max_size=12),
    after=st.text(alphabet="abc xyz,.!?", max_size=12),
)
def test_no_luhn_valid_card_number_survives(
    body: str, separator: str, before: str, after: str
) -> None:
    card = luhn_complete("4" + body)  # 16 digits
    shown = separator.join(card[i : i + 4] for i in range(0, 16, 4))
    redacted = Redactor().redact(f"{before} {shown} {after}")
    assert card not in re.sub(r"\D", "", redacted)
    assert "[CARD]" in redacted


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="abc 0123456789@.-+()/", max_size=60))
def test_redaction_is_idempotent(text: str) -> None:
    once = Redactor().redact(text)
    assert Redactor().redact(once) == once


# -- what leaves the processor --------------------------------------------------------------------
PII = ("jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958", "ACC-12345678")


def frustrated_call() -> Conversation:
    turns = [
        Segment(AGENT, 0, 4, "thanks for calling this call may be recorded"),
        Segment(CUSTOMER, 5, 12, f"this is ridiculous my email is {PII[0]} and card {PII[1]}"),
        Segment(AGENT, 13, 16, "i understand"),
        Segment(CUSTOMER, 17, 25, f"I want to file a complaint call me on {PII[2]} about {PII[3]}"),
    ]
    return Conversation(
        "call-1",
        turns,
        start_s=0.0,
        end_s=26.0,
        dimensions=Dimensions("t", "q", "a"),
        customer_id="cust-7",
    )


def exported(analyzer: ConversationAnalyzer) -> str:
    analyzer.accept_logs(encode.logs_request(encode.conversation_records(frustrated_call())))
    logs = analyzer.summaries_request(time.time_ns())
    assert logs is not None
    metrics = analyzer.export_request(time.time_ns())
    return logs.decode("latin-1") + metrics.decode("latin-1") + json.dumps(analyzer.summary())


@pytest.mark.parametrize("text_export", ["none", "redacted"])
def test_no_personal_data_is_exported_unless_raw_is_approved(text_export: str) -> None:
    chosen = policy(
        {"textExport": text_export, "patterns": [{"name": "account", "regex": "ACC-[0-9]{8}"}]}
    )
    out = exported(ConversationAnalyzer(chosen))
    for item in (*PII, "cust-7"):
        assert item not in out
    assert "escalation" in out  # the flags and the phrase that triggered them are there
    if text_export == "redacted":
        assert "[EMAIL]" in out
        assert "[CARD]" in out
        assert "[ACCOUNT]" in out
    else:
        assert "[EMAIL]" not in out  # no text at all


def test_raw_text_leaves_only_with_an_approval() -> None:
    approved = policy({"textExport": "raw", "rawTextApproval": "DPIA-2026-014 (privacy office)"})
    out = exported(ConversationAnalyzer(approved))
    assert PII[0] in out
    assert "cust-7" not in out  # the customer id is never exported


def test_the_default_policy_exports_no_text() -> None:
    assert default_policy().text_export == "none"
    out = exported(ConversationAnalyzer())
    assert "ridiculous" not in out or "lexicon: ridiculous" in out  # only as the matched phrase
    assert "my email is" not in out
