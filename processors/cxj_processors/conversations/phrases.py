"""Phrase matching and repeat detection over turns' words, compiled once per policy.

Text is compared as words: lower-cased, typographic apostrophes folded, everything but
letters, digits and inner apostrophes dropped, so "I'm SORRY!" matches the phrase
"i'm sorry". A phrase matches a run of whole words ("useless" never matches "usefulness").
Every phrase list of a policy goes into one index keyed by first word, so a single pass over
a turn's words finds the hits of every list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from cxj_processors.conversations.policy import ConversationPolicy

LEXICON = "lexicon"
ESCALATION = "escalation"
SUPERVISOR = "supervisor"
EMPATHY = "empathy"
DISCLOSURE_PREFIX = "disclosure:"

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Function words that say nothing about what a turn is about; ignored when judging repeats.
_FUNCTION_WORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "i",
        "i'm",
        "is",
        "it",
        "it's",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "will",
        "with",
        "would",
        "you",
        "your",
    )
)


def words(text: str) -> list[str]:
    """The turn's words, normalized for matching."""
    return _WORD.findall(text.replace("\u2019", "'").lower())


@dataclass(frozen=True)
class PhraseHit:
    """One phrase found in a turn: its list, the phrase, and the index of its first word."""

    category: str
    phrase: str
    word_index: int


class PhraseMatcher:
    """Every phrase list of a policy in one first-word index."""

    def __init__(self, lists: Mapping[str, Iterable[str]]) -> None:
        index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for category, phrases in lists.items():
            for phrase in phrases:
                tokens = tuple(words(phrase))
                if tokens:
                    index.setdefault(tokens[0], []).append((tokens, category, phrase))
        for candidates in index.values():
            candidates.sort(key=lambda candidate: -len(candidate[0]))  # longest wins
        self._index = index
        self.categories = tuple(lists)

    def find(self, tokens: Sequence[str]) -> list[PhraseHit]:
        """Every phrase occurrence in the words, per list without overlaps (longest first)."""
        hits: list[PhraseHit] = []
        free_from: dict[str, int] = {}
        for position, token in enumerate(tokens):
            for phrase_tokens, category, phrase in self._index.get(token, ()):
                if position < free_from.get(category, 0):
                    continue
                end = position + len(phrase_tokens)
                if tuple(tokens[position:end]) == phrase_tokens:
                    hits.append(PhraseHit(category, phrase, position))
                    free_from[category] = end
        return hits


def content_words(tokens: Iterable[str]) -> frozenset[str]:
    """The distinct words of a turn that carry meaning (function words dropped)."""
    return frozenset(t for t in tokens if t not in _FUNCTION_WORDS)


def count_repeats(turns: Sequence[frozenset[str]], similarity: float, min_words: int) -> int:
    """How many turns repeat an earlier one of the same speaker.

    A turn with at least `min_words` content words repeats an earlier such turn when their
    word sets' Jaccard similarity is at least `similarity`. Only the last 64 qualifying
    turns are compared, which bounds the work on very long conversations.
    """
    earlier: list[frozenset[str]] = []
    repeats = 0
    for turn in turns:
        if len(turn) < min_words:
            continue
        if any(len(turn & other) >= similarity * len(turn | other) for other in earlier):
            repeats += 1
        earlier.append(turn)
        if len(earlier) > 64:
            earlier.pop(0)
    return repeats


@cache
def matcher_for(policy: ConversationPolicy) -> PhraseMatcher:
    """The policy's phrase lists compiled into one matcher (built once per policy)."""
    lists: dict[str, Iterable[str]] = {
        LEXICON: policy.lexicon,
        ESCALATION: policy.escalation_phrases,
        SUPERVISOR: policy.supervisor_phrases,
        EMPATHY: policy.empathy_phrases,
    }
    for rule in policy.disclosures:
        lists[DISCLOSURE_PREFIX + rule.name] = rule.phrases
    return PhraseMatcher(lists)
