"""Running totals of conversation signals per (team, queue, agent), and the rates from them.

Totals only grow (they back cumulative OTLP sums); rates are ratios of totals. The number
of groups is bounded: past `max_groups`, new groups share one overflow group (exported with
otel.metric.overflow=true), so a flood of agent names cannot exhaust memory.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from cxj_processors.conversations.model import ConversationSummary, Dimensions

OVERFLOW = Dimensions("", "", "")


@dataclass
class GroupTotals:
    """What one group's conversations added up to since the processor started."""

    conversations: int = 0
    with_text: int = 0
    with_customer: int = 0
    duration_s: float = 0.0
    talk_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    nontalk_s: float = 0.0
    overlap_s: float = 0.0
    silence_events: int = 0
    talkover_events: int = 0
    talkover_by: Counter[tuple[int, int]] = field(default_factory=Counter)
    frustrated: int = 0
    escalated: int = 0
    escalations_by_trigger: Counter[str] = field(default_factory=Counter)
    transfers: int = 0
    slow_transfers: int = 0
    transfer_wait_s: float = 0.0
    disclosures: Counter[tuple[str, bool]] = field(default_factory=Counter)
    empathy_phrases: int = 0
    repeat_contacts: int = 0
    ended_by_timeout: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, summary: ConversationSummary, *, identified: bool) -> None:
        """Adds one conversation; `identified` says whether it had a customer id."""
        if summary.problem is not None:
            self.rejected[summary.problem.code] += 1
            return
        self.conversations += 1
        self.with_text += summary.has_text
        self.with_customer += identified
        self.duration_s += summary.duration_s
        for role, seconds in enumerate(summary.talk_s):
            self.talk_s[role] += seconds
        self.nontalk_s += summary.nontalk_s
        self.overlap_s += summary.overlap_s
        self.silence_events += summary.silence_events
        self.talkover_events += summary.talkover_events
        for interrupter, row in enumerate(summary.talkover_by):
            for interrupted, count in enumerate(row):
                if count:
                    self.talkover_by[(interrupter, interrupted)] += count
        self.frustrated += summary.frustrated
        self.escalated += summary.escalated
        self.escalations_by_trigger.update(summary.escalation_triggers)
        if summary.bot_transfer:
            self.transfers += 1
            self.slow_transfers += summary.slow_transfer
            self.transfer_wait_s += summary.transfer_wait_s
        for name, met in summary.disclosures.items():
            self.disclosures[(name, met)] += 1
        self.empathy_phrases += summary.empathy_phrases
        self.repeat_contacts += summary.repeat_contact
        self.ended_by_timeout += summary.ended_by_timeout

    def rates(self) -> dict[str, float]:
        """The group's headline ratios (NaN when undefined)."""
        met = sum(n for (_, ok), n in self.disclosures.items() if ok)
        judged = sum(self.disclosures.values())
        return {
            "silenceRatio": _ratio(self.nontalk_s, self.duration_s),
            "talkOverRate": _ratio(self.talkover_events, self.duration_s / 60.0),
            "escalationRate": _ratio(self.escalated, self.conversations),
            "disclosureAdherence": _ratio(met, judged),
            "frustrationRate": _ratio(self.frustrated, self.conversations),
            "repeatContactRate": _ratio(self.repeat_contacts, self.with_customer),
            "meanTransferWait": _ratio(self.transfer_wait_s, self.transfers),
        }


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole > 0 else math.nan


class Totals:
    """Group totals, bounded in number, plus their sum over every group."""

    def __init__(self, max_groups: int = 2_000) -> None:
        self.max_groups = max_groups
        self.groups: dict[Dimensions, GroupTotals] = {}
        self.overall = GroupTotals()

    def add(self, summary: ConversationSummary, *, identified: bool) -> None:
        """Adds a conversation to its group and to the overall totals."""
        key = summary.dimensions
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= self.max_groups - 1 and key != OVERFLOW:
                key = OVERFLOW
            group = self.groups.setdefault(key, GroupTotals())
        group.add(summary, identified=identified)
        self.overall.add(summary, identified=identified)

    def __iter__(self) -> Iterator[tuple[Dimensions, GroupTotals]]:
        return iter(sorted(self.groups.items(), key=lambda item: _sort_key(item[0])))


def _sort_key(dimensions: Dimensions) -> tuple[bool, str, str, str]:
    return (dimensions == OVERFLOW, dimensions.team, dimensions.queue, dimensions.agent)


def budget_remaining(bad: int, total: int, objective: float) -> float:
    """Share of the error budget left: 1 - bad / ((1 - objective) * total); NaN without data."""
    if total <= 0:
        return math.nan
    return 1.0 - bad / ((1.0 - objective) * total)
