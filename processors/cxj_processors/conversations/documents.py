"""JSON documents of conversation summaries and totals (CLI output and the status API).

Numbers that are undefined (NaN) become null. The customer id never appears; text appears
only as the excerpts the policy allows, already redacted unless the policy says raw.
"""

from __future__ import annotations

import math
from typing import Any

from cxj_processors.conversations.model import ROLES, ConversationSummary, Dimensions
from cxj_processors.conversations.policy import ConversationPolicy
from cxj_processors.conversations.totals import OVERFLOW, GroupTotals, budget_remaining


def number(value: float) -> float | None:
    """A JSON-safe number: NaN becomes None, others are rounded to microseconds."""
    return None if math.isnan(value) else round(value, 6)


def by_role(values: tuple[float, ...] | list[float]) -> dict[str, float | None]:
    """One value per role name."""
    return {role: number(value) for role, value in zip(ROLES, values, strict=True)}


def dimensions_document(dimensions: Dimensions) -> dict[str, Any]:
    """The group's team, queue and agent (or the overflow marker)."""
    if dimensions == OVERFLOW:
        return {"overflow": True}
    return {"team": dimensions.team, "queue": dimensions.queue, "agent": dimensions.agent}


def summary_document(summary: ConversationSummary) -> dict[str, Any]:
    """Everything known about one conversation, for people and programs."""
    document: dict[str, Any] = {
        "conversationId": summary.conversation_id,
        **dimensions_document(summary.dimensions),
        "start": number(summary.start_s),
        "duration": number(summary.duration_s),
        "flags": list(summary.flags),
    }
    if summary.problem is not None:
        document["error"] = {"code": summary.problem.code, "reason": summary.problem.reason}
        return document
    talkover_by = {
        f"{ROLES[interrupter]}->{ROLES[interrupted]}": count
        for interrupter, row in enumerate(summary.talkover_by)
        for interrupted, count in enumerate(row)
        if count
    }
    document.update(
        {
            "talk": by_role(summary.talk_s),
            "talkRatio": by_role(summary.talk_ratio),
            "nonTalk": number(summary.nontalk_s),
            "nonTalkRatio": number(summary.nontalk_ratio),
            "overlap": number(summary.overlap_s),
            "silence": {
                "events": summary.silence_events,
                "longest": number(summary.longest_silence_s),
            },
            "talkOver": {"events": summary.talkover_events, "by": talkover_by},
            "wordsPerMinute": by_role(summary.words_per_minute),
            "sentimentByQuarter": {
                role: [number(v) for v in quarters]
                for role, quarters in zip(ROLES, summary.sentiment_quarters, strict=True)
                if not all(math.isnan(v) for v in quarters)
            },
            "frustration": {
                "frustrated": summary.frustrated,
                "lexiconHits": summary.lexicon_hits,
                "repeats": summary.repeats,
                "risingNegativity": summary.rising_negativity,
            },
            "escalation": {
                "escalated": summary.escalated,
                "triggers": list(summary.escalation_triggers),
                "phrases": summary.escalation_phrases,
                "supervisorRequests": summary.supervisor_requests,
                "botTransfer": summary.bot_transfer,
                "transferWait": number(summary.transfer_wait_s),
            },
            "disclosures": dict(summary.disclosures),
            "empathyPhrases": summary.empathy_phrases,
            "repeatContact": summary.repeat_contact,
        }
    )
    if summary.excerpts:
        document["excerpts"] = [
            {"label": e.label, "at": number(e.at_s), "role": e.role, "text": e.text}
            for e in summary.excerpts
        ]
    return document


def totals_document(totals: GroupTotals) -> dict[str, Any]:
    """Counts and rates of one group (or of everything)."""
    return {
        "conversations": totals.conversations,
        "rejected": dict(sorted(totals.rejected.items())),
        "duration": number(totals.duration_s),
        "talk": by_role(totals.talk_s),
        "nonTalk": number(totals.nontalk_s),
        "silenceEvents": totals.silence_events,
        "talkOverEvents": totals.talkover_events,
        "escalated": totals.escalated,
        "frustrated": totals.frustrated,
        "repeatContacts": totals.repeat_contacts,
        "transfers": totals.transfers,
        "slowTransfers": totals.slow_transfers,
        "endedByTimeout": totals.ended_by_timeout,
        **{name: number(value) for name, value in totals.rates().items()},
    }


def slis_document(totals: GroupTotals, policy: ConversationPolicy) -> dict[str, Any]:
    """The two conversation SLIs: attainment and error budget left since the start."""
    identified = totals.with_customer
    return {
        "frustrationFree": {
            "objective": policy.frustration_free_objective,
            "good": totals.conversations - totals.frustrated,
            "total": totals.conversations,
            "budgetRemaining": number(
                budget_remaining(
                    totals.frustrated, totals.conversations, policy.frustration_free_objective
                )
            ),
        },
        "firstContactResolution": {
            "objective": policy.first_contact_objective,
            "good": identified - totals.repeat_contacts,
            "total": identified,
            "budgetRemaining": number(
                budget_remaining(totals.repeat_contacts, identified, policy.first_contact_objective)
            ),
        },
    }
