"""Conversation signals against the generator's ground truth, and properties of the whole."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxj_processors.conversations.batch import analyze_batch
from cxj_processors.conversations.documents import summary_document
from cxj_processors.conversations.generator import GeneratorOptions, SyntheticConversation, generate
from cxj_processors.conversations.model import ConversationSummary
from cxj_processors.conversations.phrases import PhraseMatcher, content_words, count_repeats, words
from cxj_processors.conversations.policy import default_policy
from cxj_processors.conversations.repeats import RepeatContacts

POLICY = default_policy()


def mismatches(summary: ConversationSummary, item: SyntheticConversation) -> list[str]:
    truth = item.truth

    def close(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-6)

    talkover_by = {
        (i, j): n for i, row in enumerate(summary.talkover_by) for j, n in enumerate(row) if n
    }
    checks = {
        "analysed": summary.problem is None,
        "duration": close(summary.duration_s, truth.duration_s),
        "talk": all(close(a, b) for a, b in zip(summary.talk_s, truth.talk_s, strict=True)),
        "nontalk": close(summary.nontalk_s, truth.nontalk_s),
        "overlap": close(summary.overlap_s, truth.overlap_s),
        "silence events": summary.silence_events == truth.silence_events,
        "longest silence": close(summary.longest_silence_s, truth.longest_silence_s),
        "talk-over events": summary.talkover_events == truth.talkover_events,
        "who interrupted whom": talkover_by == truth.talkover_by,
        "lexicon": summary.lexicon_hits == truth.lexicon_hits,
        "repeats": summary.repeats == truth.repeats,
        "rising negativity": summary.rising_negativity == truth.rising_negativity,
        "frustrated": summary.frustrated == truth.frustrated,
        "escalation phrases": summary.escalation_phrases == truth.escalation_phrases,
        "supervisor": summary.supervisor_requests == truth.supervisor_requests,
        "transfer": summary.bot_transfer == truth.bot_transfer,
        "transfer wait": close(summary.transfer_wait_s, truth.transfer_wait_s),
        "slow transfer": summary.slow_transfer == truth.slow_transfer,
        "escalated": summary.escalated == truth.escalated,
        "disclosure": all(summary.disclosures.values()) == truth.disclosure_met,
        "empathy": summary.empathy_phrases == truth.empathy_phrases,
        "repeat contact": summary.repeat_contact == truth.repeat_contact,
    }
    for role in range(3):
        minutes = truth.talk_s[role] / 60
        expected = truth.words[role] / minutes if minutes > 0 else math.nan
        ours = summary.words_per_minute[role]
        checks[f"words per minute {role}"] = (math.isnan(ours) and math.isnan(expected)) or (
            math.isclose(ours, expected, rel_tol=1e-6)  # Unix-second clocks: ~0.2 us resolution
        )
    return [name for name, ok in checks.items() if not ok]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_signal_matches_the_ground_truth(seed: int) -> None:
    made = generate(GeneratorOptions(conversations=150, seed=seed), POLICY)
    result = analyze_batch([m.conversation for m in made], POLICY)
    wrong = {
        item.conversation.conversation_id: bad
        for item, summary in zip(made, result.summaries, strict=True)
        if (bad := mismatches(summary, item))
    }
    assert wrong == {}
    planted = [summary.flags for summary in result.summaries]
    for flag in ("long-silence", "talk-over", "frustrated", "escalated", "slow-transfer",
                 "disclosure-missed", "repeat-contact"):  # fmt: skip
        assert any(flag in flags for flags in planted), f"the generator planted no {flag}"


def test_without_text_disclosures_are_not_judged() -> None:
    made = generate(GeneratorOptions(conversations=30, seed=9, text=False), POLICY)
    result = analyze_batch([m.conversation for m in made], POLICY)
    for summary in result.summaries:
        assert summary.disclosures == {}
        assert not summary.has_text
        assert all(math.isnan(v) for v in summary.words_per_minute)
    assert math.isnan(result.totals.overall.rates()["disclosureAdherence"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_input_order_changes_nothing(seed: int) -> None:
    made = generate(GeneratorOptions(conversations=12, seed=seed), POLICY)
    conversations = [m.conversation for m in made]
    rng = random.Random(seed)
    shuffled = [
        dataclasses.replace(c, segments=rng.sample(c.segments, len(c.segments)))
        for c in rng.sample(conversations, len(conversations))
    ]
    ours = {
        s.conversation_id: summary_document(s)
        for s in analyze_batch(conversations, POLICY).summaries
    }
    theirs = {
        s.conversation_id: summary_document(s) for s in analyze_batch(shuffled, POLICY).summaries
    }
    assert ours == theirs


def test_talk_plus_silence_minus_overlap_is_the_duration() -> None:
    made = generate(GeneratorOptions(conversations=100, seed=21), POLICY)
    for summary in analyze_batch([m.conversation for m in made], POLICY).summaries:
        accounted = sum(summary.talk_s) + summary.nontalk_s - summary.overlap_s
        assert accounted == pytest.approx(summary.duration_s, abs=1e-6)


# -- phrases --------------------------------------------------------------------------------------
MATCHER = PhraseMatcher(
    {
        "lexicon": ["useless", "waste of time", "so frustrated", "frustrated"],
        "empathy": ["i'm sorry"],
    }
)


@pytest.mark.parametrize(
    ("text", "hits"),
    [
        ("This is USELESS!", [("lexicon", "useless")]),
        ("the usefulness of it", []),
        (
            "I\u2019m sorry, what a waste of time",
            [("empathy", "i'm sorry"), ("lexicon", "waste of time")],
        ),
        ("I am so frustrated", [("lexicon", "so frustrated")]),
        ("frustrated, so frustrated", [("lexicon", "frustrated"), ("lexicon", "so frustrated")]),
        ("waste of timer", []),
    ],
    ids=[
        "case-and-punctuation",
        "whole-words-only",
        "typographic-apostrophe",
        "longest-wins",
        "each-occurrence-counts",
        "phrase-ends-on-a-word",
    ],
)
def test_phrase_matching(text: str, hits: list[tuple[str, str]]) -> None:
    assert [(h.category, h.phrase) for h in MATCHER.find(words(text))] == hits


@pytest.mark.parametrize(
    ("turns", "repeats"),
    [
        (["my router keeps dropping the signal", "the router keeps dropping signal again"], 1),
        (["my router keeps dropping the signal", "can you check my account balance please"], 0),
        (["yes", "yes", "yes"], 0),  # too short to be a repeat
        (["router dropping signal broadband"] * 4, 3),
    ],
    ids=["near-repeat", "different-topics", "short-answers", "three-times-again"],
)
def test_repeat_detection(turns: list[str], repeats: int) -> None:
    assert count_repeats([content_words(words(t)) for t in turns], 0.6, 4) == repeats


@settings(max_examples=50, deadline=None)
@given(starts=st.lists(st.integers(0, 500_000), min_size=1, max_size=12), seed=st.integers(0, 999))
def test_repeat_contacts_do_not_depend_on_arrival_order(starts: list[int], seed: int) -> None:
    window = 259_200.0
    calls = [(f"c{i}", float(s)) for i, s in enumerate(starts)]
    verdicts = []
    for order in (calls, random.Random(seed).sample(calls, len(calls))):
        repeats = RepeatContacts(window, retention_s=math.inf)
        for name, start in order:
            repeats.register("cust", name, start)
        verdicts.append({name: repeats.is_repeat("cust", name, start) for name, start in calls})
    assert verdicts[0] == verdicts[1]
    ordered = sorted(calls, key=lambda c: (c[1], c[0]))
    expected = {
        name: any(0 <= start - other <= window for _, other in ordered[:i])
        for i, (name, start) in enumerate(ordered)
    }
    assert verdicts[0] == expected


def test_repeat_contacts_forget_old_starts_and_customers() -> None:
    repeats = RepeatContacts(100.0, retention_s=150.0, max_customers=2)
    repeats.register("a", "a1", 0.0)
    repeats.register("a", "a2", 120.0)
    assert repeats.is_repeat("a", "a2", 120.0) is False  # 120 s after a1: outside the window
    repeats.register("a", "a3", 200.0)  # a1 is now older than the retention: forgotten
    assert repeats.is_repeat("a", "a3", 200.0) is True
    repeats.register("b", "b1", 0.0)
    repeats.register("c", "c1", 0.0)  # a is the least recently seen customer: forgotten
    assert len(repeats) == 2
    assert repeats.is_repeat("a", "a3", 200.0) is False
