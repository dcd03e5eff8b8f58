"""Analysing a batch of conversations read from files, and the table people read.

Pure: conversations in, summaries and totals out. Analysed in chunks so arrays stay small
however large the batch; every conversation is registered for repeat contacts first, so
the result does not depend on the order of the input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cxj_processors.conversations.arrays import bounds
from cxj_processors.conversations.model import Conversation, ConversationSummary
from cxj_processors.conversations.policy import ConversationPolicy
from cxj_processors.conversations.repeats import RepeatContacts
from cxj_processors.conversations.signals import analyze
from cxj_processors.conversations.totals import Totals

CHUNK = 5_000


@dataclass(frozen=True)
class BatchResult:
    """Every conversation's summary (input order) and the totals over all of them."""

    summaries: list[ConversationSummary]
    totals: Totals


def analyze_batch(conversations: Sequence[Conversation], policy: ConversationPolicy) -> BatchResult:
    """Analyses conversations from files; repeat contacts look across the whole batch."""
    size = max(len(conversations), 1)
    repeats = RepeatContacts(
        policy.repeat_window_s, retention_s=math.inf, max_customers=size, max_per_customer=size
    )
    for conversation in conversations:
        if conversation.customer_id:
            start, _ = bounds(conversation)
            repeats.register(conversation.customer_id, conversation.conversation_id, start)
    summaries: list[ConversationSummary] = []
    for first in range(0, len(conversations), CHUNK):
        summaries.extend(analyze(conversations[first : first + CHUNK], policy, repeats))
    totals = Totals(max_groups=max(len(conversations), 1) + 1)
    for summary, conversation in zip(summaries, conversations, strict=True):
        totals.add(summary, identified=conversation.customer_id is not None)
    return BatchResult(summaries, totals)


def _percent(value: float) -> str:
    return "-" if math.isnan(value) else f"{100 * value:.0f}%"


def render_table(result: BatchResult) -> str:
    """One line per conversation, then the overall rates."""
    header = (
        f"{'CONVERSATION':<24} {'DURATION':>9} {'AGENT':>6} {'CUST':>6} {'BOT':>5} "
        f"{'NONTALK':>7} {'SILENCES':>9} {'TALKOVER':>8}  FLAGS"
    )
    lines = [header]
    for s in result.summaries:
        name = s.conversation_id[:24]
        if s.problem is not None:
            lines.append(f"{name:<24} rejected ({s.problem.code}): {s.problem.reason}")
            continue
        agent, customer, bot = s.talk_ratio
        silences = f"{s.silence_events} ({s.longest_silence_s:.0f}s)"
        lines.append(
            f"{name:<24} {s.duration_s:>8.1f}s {_percent(agent):>6} {_percent(customer):>6} "
            f"{_percent(bot):>5} {_percent(s.nontalk_ratio):>7} {silences:>9} "
            f"{s.talkover_events:>8}  {','.join(s.flags) or '-'}"
        )
    overall = result.totals.overall
    rates = overall.rates()
    rejected = sum(overall.rejected.values())
    lines.append("")
    lines.append(
        f"{overall.conversations} analysed, {rejected} rejected; "
        f"silence ratio {_percent(rates['silenceRatio'])}, "
        f"talk-over {_rate(rates['talkOverRate'])}/min, "
        f"escalation {_percent(rates['escalationRate'])}, "
        f"disclosure adherence {_percent(rates['disclosureAdherence'])}, "
        f"frustration {_percent(rates['frustrationRate'])}, "
        f"repeat contact {_percent(rates['repeatContactRate'])}"
    )
    return "\n".join(lines)


def _rate(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"
