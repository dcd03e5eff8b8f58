"""Redaction of conversation text before anything leaves the processor.

Order matters and is fixed: the policy's own patterns first (so "ACC-12345678" is an account
number, not a phone number), then email addresses, then runs of digits. A run of digits (up
to three spaces, dots, dashes, slashes or brackets between digits) is split into its groups:
any span of consecutive groups holding 13 to 19 digits that passes the Luhn check is a
payment card number; what is left, when it holds 7 to 15 digits (the E.164 range), is a
phone number. Shorter numbers, dates and amounts stay, and so does a card-length number
that fails the Luhn check (it is not a card number).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from cxj_processors.conversations.policy import ConversationPolicy, RedactionPattern

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"(?<![\w+])(?:\+|\(|00)?\d(?:[ ./()-]{1,3}\d|\d)*(?!\w)")
_GROUP = re.compile(r"\d+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})")
_CARD_DIGITS = (13, 19)
_PHONE_DIGITS = (7, 15)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


class Redactor:
    """Replaces personal data in text: configured patterns, emails, cards, phone numbers."""

    def __init__(self, patterns: Sequence[RedactionPattern] = ()) -> None:
        self.patterns = tuple(patterns)

    def redact(self, text: str) -> str:
        """Returns the text with every match replaced by its placeholder."""
        for pattern in self.patterns:
            # A replacement is literal text: its backslashes are not group references.
            text = pattern.regex.sub(pattern.replacement.replace("\\", "\\\\"), text)
        text = _EMAIL.sub(EMAIL, text)
        return _DIGIT_RUN.sub(_redact_digit_run, text)


def _redact_digit_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if _DATE.fullmatch(run):
        return run
    groups = [(m.start(), m.end(), m.group(0)) for m in _GROUP.finditer(run)]
    out: list[str] = []
    cursor = 0
    for first, last, placeholder in _labelled_spans(groups):
        start = 0 if first == 0 else groups[first][0]  # a leading +, ( or 00 goes too
        out.append(run[cursor:start])
        out.append(placeholder)
        cursor = groups[last][1]
    out.append(run[cursor:])
    return "".join(out)


def _labelled_spans(groups: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """(first group, last group, placeholder) of every card and phone number, in order."""
    cards: list[tuple[int, int, str]] = []
    index = 0
    while index < len(groups):
        last = _card_span(groups, index)
        if last is None:
            index += 1
        else:
            cards.append((index, last, CARD))
            index = last + 1
    spans: list[tuple[int, int, str]] = []
    free = 0  # the first group not yet labelled
    for first, last, placeholder in [*cards, (len(groups), len(groups), "")]:
        if first > free:  # the groups between two cards may be one phone number
            digits = sum(len(group[2]) for group in groups[free:first])
            if _PHONE_DIGITS[0] <= digits <= _PHONE_DIGITS[1]:
                spans.append((free, first - 1, PHONE))
        if placeholder:
            spans.append((first, last, placeholder))
        free = last + 1
    return spans


def _card_span(groups: list[tuple[int, int, str]], first: int) -> int | None:
    """The last group of the longest Luhn-valid card number starting at group `first`."""
    digits = ""
    best = None
    for index in range(first, len(groups)):
        digits += groups[index][2]
        if len(digits) > _CARD_DIGITS[1]:
            break
        if len(digits) >= _CARD_DIGITS[0] and luhn_valid(digits):
            best = index
    return best


@cache
def redactor_for(policy: ConversationPolicy) -> Redactor:
    """The policy's redactor (built once per policy)."""
    return Redactor(policy.redaction_patterns)
