"""CxConversationPolicy documents parsed once into a frozen policy (the CRD is the one schema).

The same CRD file the apiserver enforces validates the document here and supplies every
default, so an empty spec (or no policy at all) gives the documented default policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from cxj_journey import schema
from cxj_journey.documents import UnreadableInput, read_documents
from cxj_journey.durations import parse_duration
from cxj_journey.validate import validate_document
from cxj_processors.conversations.model import AGENT, BOT

KIND = "CxConversationPolicy"
TEXT_EXPORT_NONE, TEXT_EXPORT_REDACTED, TEXT_EXPORT_RAW = "none", "redacted", "raw"
_SPEAKERS = {
    "agent": frozenset({AGENT}),
    "bot": frozenset({BOT}),
    "agentOrBot": frozenset({AGENT, BOT}),
}


class PolicyError(ValueError):
    """A policy document that cannot be used; the message names the file, field and fix."""


@dataclass(frozen=True)
class DisclosureRule:
    """One required disclosure: any of the phrases, said by one of the speakers, in time."""

    name: str
    phrases: tuple[str, ...]
    speakers: frozenset[int]  # role codes
    within_s: float | None  # None: anywhere in the conversation
    queues: frozenset[str] | None  # None: every queue

    def applies_to(self, queue: str) -> bool:
        """Whether conversations of this queue must carry the disclosure."""
        return self.queues is None or queue in self.queues


@dataclass(frozen=True)
class RedactionPattern:
    """A configured pattern to redact and its replacement."""

    name: str
    regex: re.Pattern[str]
    replacement: str


@dataclass(frozen=True)
class ConversationPolicy:
    """Everything the analyzer needs from a CxConversationPolicy, in seconds and ratios."""

    name: str
    silence_threshold_s: float
    min_overlap_s: float
    transfer_max_wait_s: float
    escalation_phrases: tuple[str, ...]
    supervisor_phrases: tuple[str, ...]
    lexicon: tuple[str, ...]
    min_lexicon_hits: int
    repeat_min_repeats: int
    repeat_similarity: float
    repeat_min_words: int
    negativity_drop: float
    disclosures: tuple[DisclosureRule, ...]
    empathy_phrases: tuple[str, ...]
    repeat_window_s: float
    idle_timeout_s: float
    max_duration_s: float
    redaction_patterns: tuple[RedactionPattern, ...]
    text_export: str
    frustration_free_objective: float  # ratio, e.g. 0.95
    first_contact_objective: float  # ratio, e.g. 0.9


def parse_policy(document: Any, source: str = "policy") -> ConversationPolicy:
    """Validates a CxConversationPolicy document against the CRD and returns the policy.

    Raises:
        PolicyError: listing every problem with its path, as `cxj validate` does.
    """
    if isinstance(document, dict) and document.get("kind") != KIND:
        raise PolicyError(f"{source}: kind must be {KIND}, got {document.get('kind')!r}")
    problems = validate_document(document)
    if problems:
        listed = "; ".join(str(problem) for problem in problems)
        raise PolicyError(f"{source}: invalid {KIND}: {listed}")
    filled = schema.apply_defaults(document, schema.openapi_schema(KIND))
    return _build(filled["metadata"]["name"], filled["spec"], source)


def load_policy(path: str) -> ConversationPolicy:
    """Reads the one CxConversationPolicy in a YAML or JSON file ("-" for standard input).

    Raises:
        PolicyError: when the file is unreadable, holds no policy or more than one, or the
            policy is invalid.
    """
    try:
        documents = read_documents(path)
    except UnreadableInput as error:
        raise PolicyError(str(error)) from error
    policies = [d for d in documents if isinstance(d.body, dict) and d.body.get("kind") == KIND]
    if len(policies) != 1:
        raise PolicyError(f"{path}: expected exactly one {KIND} document, found {len(policies)}")
    return parse_policy(policies[0].body, policies[0].label)


@cache
def default_policy() -> ConversationPolicy:
    """The policy of an empty spec: every default of the CRD."""
    document = {
        "apiVersion": schema.API_VERSION,
        "kind": KIND,
        "metadata": {"name": "default"},
        "spec": {},
    }
    return parse_policy(document, "default policy")


def normalize_phrase(phrase: str) -> str:
    """Lower-cases a phrase and folds typographic apostrophes and runs of spaces."""
    return " ".join(phrase.replace("\u2019", "'").lower().split())


def _phrases(values: list[str]) -> tuple[str, ...]:
    # Duplicates after normalization would only double-count, so the first one wins.
    return tuple(dict.fromkeys(normalize_phrase(v) for v in values if normalize_phrase(v)))


def _build(name: str, spec: dict[str, Any], source: str) -> ConversationPolicy:
    frustration = spec["frustration"]
    repetition = frustration["repetition"]
    redaction = spec["redaction"]
    return ConversationPolicy(
        name=name,
        silence_threshold_s=parse_duration(spec["silence"]["threshold"]),
        min_overlap_s=parse_duration(spec["talkOver"]["minOverlap"]),
        transfer_max_wait_s=parse_duration(spec["transfer"]["maxWait"]),
        escalation_phrases=_phrases(spec["escalation"]["phrases"]),
        supervisor_phrases=_phrases(spec["escalation"]["supervisorPhrases"]),
        lexicon=_phrases(frustration["lexicon"]),
        min_lexicon_hits=int(frustration["minLexiconHits"]),
        repeat_min_repeats=int(repetition["minRepeats"]),
        repeat_similarity=float(repetition["similarity"]),
        repeat_min_words=int(repetition["minWords"]),
        negativity_drop=float(frustration["negativityDrop"]),
        disclosures=tuple(_disclosure(rule) for rule in spec["disclosures"]),
        empathy_phrases=_phrases(spec["empathy"]["phrases"]),
        repeat_window_s=parse_duration(spec["repeatContact"]["window"]),
        idle_timeout_s=parse_duration(spec["timing"]["idleTimeout"]),
        max_duration_s=parse_duration(spec["timing"]["maxDuration"]),
        redaction_patterns=tuple(
            _pattern(pattern, f"{source}: spec.redaction.patterns[{index}].regex")
            for index, pattern in enumerate(redaction.get("patterns", []))
        ),
        text_export=redaction["textExport"],
        frustration_free_objective=float(spec["slis"]["frustrationFree"]) / 100.0,
        first_contact_objective=float(spec["slis"]["firstContactResolution"]) / 100.0,
    )


def _disclosure(rule: dict[str, Any]) -> DisclosureRule:
    within = rule.get("within")
    queues = rule.get("queues")
    return DisclosureRule(
        name=rule["name"],
        phrases=_phrases(rule["phrases"]),
        speakers=_SPEAKERS[rule["speaker"]],
        within_s=parse_duration(within) if within is not None else None,
        queues=frozenset(queues) if queues else None,
    )


def _pattern(pattern: dict[str, Any], where: str) -> RedactionPattern:
    try:
        compiled = re.compile(pattern["regex"])
    except re.error as error:  # the CRD rule catches this first; kept for a readable message
        raise PolicyError(f"{where}: not a regular expression: {error}") from error
    replacement = pattern.get("replacement") or f"[{pattern['name'].upper()}]"
    return RedactionPattern(pattern["name"], compiled, replacement)
