"""CxConversationPolicy: the CRD is the one schema; documents become a frozen policy."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from cxj_cli.main import main
from cxj_journey import schema
from cxj_journey.rules import RULES
from cxj_journey.validate import validate_document
from cxj_processors.conversations.model import AGENT, BOT, CUSTOMER, Conversation, Segment
from cxj_processors.conversations.policy import (
    KIND,
    PolicyError,
    default_policy,
    load_policy,
    parse_policy,
)
from cxj_processors.conversations.signals import analyze

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "crds" / "examples" / "conversation-policy.yaml"
CORPUS = yaml.safe_load(
    (REPO / "tests" / "data" / "invalid_conversation_policies.yaml").read_text()
)


def document(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": schema.API_VERSION, "kind": KIND, "metadata": {"name": "p"}, "spec": spec}


def test_the_example_is_read_with_every_setting() -> None:
    policy = load_policy(str(EXAMPLE))
    assert policy.name == "retail-voice"
    assert policy.silence_threshold_s == 5.0
    assert policy.min_overlap_s == 1.0
    assert policy.transfer_max_wait_s == 45.0
    assert "someone more senior" in policy.supervisor_phrases
    assert policy.repeat_window_s == 72 * 3600
    assert policy.max_duration_s == 4 * 3600
    payment = next(rule for rule in policy.disclosures if rule.name == "payment-terms")
    assert payment.speakers == frozenset({AGENT})
    assert payment.applies_to("payments")
    assert not payment.applies_to("cards")
    notice = next(rule for rule in policy.disclosures if rule.name == "recording-notice")
    assert notice.within_s == 30.0
    assert notice.speakers == frozenset({AGENT, BOT})
    assert [p.name for p in policy.redaction_patterns] == ["account-number", "sort-code"]
    assert policy.redaction_patterns[0].replacement == "[ACCOUNT-NUMBER]"
    assert policy.redaction_patterns[1].replacement == "[SORT-CODE]"
    assert policy.text_export == "redacted"
    assert policy.first_contact_objective == pytest.approx(0.88)


def test_no_policy_means_the_crd_defaults() -> None:
    policy = default_policy()
    assert policy == dataclasses.replace(parse_policy(document({})), name="default")
    assert policy.silence_threshold_s == 5.0
    assert policy.min_overlap_s == 0.0
    assert policy.idle_timeout_s == 300.0
    assert policy.repeat_window_s == 72 * 3600
    assert policy.text_export == "none"
    assert [rule.name for rule in policy.disclosures] == ["recording-notice"]
    assert policy.disclosures[0].within_s == 30.0
    assert "ridiculous" in policy.lexicon
    assert policy.frustration_free_objective == pytest.approx(0.95)


def test_phrases_are_normalized_and_deduplicated() -> None:
    policy = parse_policy(
        document({"empathy": {"phrases": ["I\u2019m  Sorry", "i'm sorry", "I understand"]}})
    )
    assert policy.empathy_phrases == ("i'm sorry", "i understand")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (
            {"silence": {"threshold": "15m"}},
            "spec.silence.threshold: silence.threshold must be between 1s and 10m",
        ),
        (
            {"redaction": {"textExport": "raw"}},
            "spec.redaction.rawTextApproval: textExport: raw needs",
        ),
        ({"silense": {}}, "spec.silense: unknown field; did you mean 'silence'?"),
        (
            {"disclosures": [{"name": "x", "phrases": []}]},
            "spec.disclosures[0].phrases: must have at least 1",
        ),
    ],
    ids=[
        "threshold-too-long",
        "raw-text-unapproved",
        "misspelt-section",
        "disclosure-without-phrases",
    ],
)
def test_invalid_policies_are_refused_naming_the_field(spec: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyError, match="invalid CxConversationPolicy") as refused:
        parse_policy(document(spec), "policy.yaml")
    assert fragment in str(refused.value)
    assert str(refused.value).startswith("policy.yaml: ")


def test_a_journey_is_not_a_policy() -> None:
    with pytest.raises(PolicyError, match="kind must be CxConversationPolicy, got 'CxJourney'"):
        parse_policy({**document({}), "kind": "CxJourney"})


def test_a_policy_file_must_hold_exactly_one_policy(tmp_path: Path) -> None:
    two = tmp_path / "two.yaml"
    two.write_text(yaml.safe_dump_all([document({}), document({})]))
    with pytest.raises(
        PolicyError, match="expected exactly one CxConversationPolicy document, found 2"
    ):
        load_policy(str(two))
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(str(tmp_path / "missing.yaml"))


def test_the_policy_decides_what_counts() -> None:
    turns = [
        Segment(AGENT, 0, 4, "hello"),
        Segment(CUSTOMER, 11, 14, "hi"),
        Segment(AGENT, 14.5, 20, "ok"),
    ]
    conversation = Conversation("c", turns, start_s=0.0, end_s=20.0)
    (default,) = analyze([conversation], default_policy())
    (lenient,) = analyze([conversation], parse_policy(document({"silence": {"threshold": "10s"}})))
    assert (default.silence_events, lenient.silence_events) == (1, 0)


# -- the corpus, locally (tests/integration/test_policy_parity.py adds the apiserver) ----------
def test_corpus_base_is_valid() -> None:
    assert validate_document(CORPUS["base"]) == []


def test_corpus_has_at_least_fifteen_distinct_mistakes() -> None:
    ids = [case["id"] for case in CORPUS["cases"]]
    assert len(ids) >= 15
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["id"])
def test_every_mistake_is_rejected_and_located(case: dict[str, Any]) -> None:
    problems = validate_document(jsonpatch.apply_patch(CORPUS["base"], case["patch"]))
    assert problems, f"{case['id']} was accepted"
    assert any(problem.path.startswith(case["expect"]) for problem in problems), problems


def test_every_policy_cel_rule_has_a_local_twin() -> None:
    in_crd = {rule.message for rule in schema.cel_rules(KIND)}
    assert in_crd <= set(RULES)
    assert len(in_crd) >= 15


def test_every_schema_field_has_a_description() -> None:
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if "description" not in node and path != "metadata":
            missing.append(path)
        for name, child in node.get("properties", {}).items():
            walk(child, f"{path}.{name}" if path else name)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema.openapi_schema(KIND), "")
    assert missing == []


def test_cxj_validate_checks_policies_too(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(EXAMPLE)]) == 0
    assert "(CxConversationPolicy retail-voice): valid" in capsys.readouterr().out
