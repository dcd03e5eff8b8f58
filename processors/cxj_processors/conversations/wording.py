"""What was said: phrase hits by speaker, repeats, disclosures, and reviewable excerpts."""

from __future__ import annotations

from dataclasses import dataclass

from cxj_processors.conversations import phrases
from cxj_processors.conversations.arrays import ordered
from cxj_processors.conversations.model import (
    AGENT,
    CUSTOMER,
    ROLES,
    Conversation,
    Excerpt,
    Segment,
)
from cxj_processors.conversations.policy import TEXT_EXPORT_NONE, ConversationPolicy
from cxj_processors.conversations.redact import redactor_for

MAX_EXCERPTS = 5


@dataclass
class WordSignals:
    """What the phrase matcher found in one conversation's text."""

    lexicon: int = 0
    escalation: int = 0
    supervisor: int = 0
    empathy: int = 0
    repeats: int = 0
    has_text: bool = False


def match_words(
    conversation: Conversation, start: float, policy: ConversationPolicy
) -> tuple[WordSignals, dict[str, bool], tuple[Excerpt, ...]]:
    """Phrase hits, repeats, disclosures met (by rule) and the excerpts the policy allows."""
    matcher = phrases.matcher_for(policy)
    rules = [r for r in policy.disclosures if r.applies_to(conversation.dimensions.queue)]
    met = {rule.name: False for rule in rules}
    found = WordSignals()
    customer_turns: list[frozenset[str]] = []
    excerpts: list[Excerpt] = []
    export = policy.text_export != TEXT_EXPORT_NONE
    for segment in ordered(conversation.segments):
        if segment.text is None:
            continue
        found.has_text = True
        tokens = phrases.words(segment.text)
        if segment.role == CUSTOMER:
            customer_turns.append(phrases.content_words(tokens))
        hits = matcher.find(tokens)
        for hit in hits:
            counted = _count(found, hit.category, segment.role)
            if counted and export and len(excerpts) < MAX_EXCERPTS:
                excerpts.append(_excerpt(f"{hit.category}: {hit.phrase}", segment, start, policy))
        said = {hit.category for hit in hits}
        for rule in rules:
            if (
                phrases.DISCLOSURE_PREFIX + rule.name in said
                and segment.role in rule.speakers
                and (rule.within_s is None or segment.start_s - start <= rule.within_s)
            ):
                met[rule.name] = True
    found.repeats = phrases.count_repeats(
        customer_turns, policy.repeat_similarity, policy.repeat_min_words
    )
    return found, met, tuple(excerpts)


def _count(found: WordSignals, category: str, role: int) -> bool:
    """Counts a hit whose list applies to the speaker; True when it was worth an excerpt."""
    if role == CUSTOMER and category == phrases.LEXICON:
        found.lexicon += 1
        return True
    if role == CUSTOMER and category == phrases.ESCALATION:
        found.escalation += 1
        return True
    if role == CUSTOMER and category == phrases.SUPERVISOR:
        found.supervisor += 1
        return True
    if role == AGENT and category == phrases.EMPATHY:
        found.empathy += 1
    return False


def _excerpt(label: str, segment: Segment, start: float, policy: ConversationPolicy) -> Excerpt:
    text = segment.text or ""
    if policy.text_export != "raw":
        text = redactor_for(policy).redact(text)
    return Excerpt(label, segment.start_s - start, ROLES[segment.role], text)
