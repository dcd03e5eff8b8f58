"""Conversations in, summaries out: the kernels for timing, phrases for words, then flags.

Pure: no clock, no I/O. Batch readers and the streaming analyzer both end here, so a
conversation gets the same signals whichever way it arrives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cxj_processors.conversations import kernels
from cxj_processors.conversations.arrays import SegmentArrays, bounds, to_arrays
from cxj_processors.conversations.model import (
    CUSTOMER,
    ERROR_UNKNOWN_ROLE,
    ROLES,
    Conversation,
    ConversationProblem,
    ConversationSummary,
)
from cxj_processors.conversations.policy import ConversationPolicy
from cxj_processors.conversations.problems import describe
from cxj_processors.conversations.repeats import RepeatContacts
from cxj_processors.conversations.wording import match_words

__all__ = ["CLOCK_TOLERANCE_S", "analyze"]

# Segments may stick out of their conversation's bounds by this much (clocks of different
# systems disagree slightly); they are clipped. Further out is a clock jump.
CLOCK_TOLERANCE_S = 1.0


def analyze(
    conversations: Sequence[Conversation],
    policy: ConversationPolicy,
    repeats: RepeatContacts | None = None,
) -> list[ConversationSummary]:
    """Every signal of every conversation, in input order.

    `repeats` must already know every conversation (see RepeatContacts.register); without
    it no conversation is a repeat contact.
    """
    candidates = [c for c in conversations if c.problem is None and _roles_known(c)]
    arrays = to_arrays(candidates)
    codes, offending = kernels.validate_segments(
        arrays.conversation,
        arrays.role,
        arrays.start,
        arrays.end,
        arrays.conv_start,
        arrays.conv_end,
        CLOCK_TOLERANCE_S,
        policy.max_duration_s,
    )
    timing = kernels.timing_signals(
        arrays.conversation,
        arrays.role,
        arrays.start,
        arrays.end,
        arrays.conv_start,
        arrays.conv_end,
        policy.silence_threshold_s,
        policy.min_overlap_s,
    )
    quarters = kernels.sentiment_by_quarter(
        arrays.conversation,
        arrays.role,
        arrays.start,
        arrays.end,
        arrays.sentiment,
        arrays.conv_start,
        arrays.conv_end,
    )
    speed = kernels.talk_speed(
        arrays.conversation,
        arrays.role,
        arrays.start,
        arrays.end,
        arrays.words,
        arrays.conv_start,
        arrays.conv_end,
    )
    by_identity: dict[int, ConversationSummary] = {}
    for index, conversation in enumerate(candidates):
        code = int(codes[index])
        if code != kernels.VALID:
            problem = describe(code, offending[index], arrays, index, policy)
            by_identity[id(conversation)] = _rejected(conversation, problem)
            continue
        by_identity[id(conversation)] = _summary(
            conversation, index, arrays, timing, quarters, speed, policy, repeats
        )
    return [
        by_identity.get(id(c)) or _rejected(c, c.problem or _unknown_role(c)) for c in conversations
    ]


def _roles_known(conversation: Conversation) -> bool:
    return all(0 <= s.role < len(ROLES) for s in conversation.segments)


def _unknown_role(conversation: Conversation) -> ConversationProblem:
    bad = next(s.role for s in conversation.segments if not 0 <= s.role < len(ROLES))
    return ConversationProblem(ERROR_UNKNOWN_ROLE, f"role code {bad} is not agent, customer or bot")


def _rejected(conversation: Conversation, problem: ConversationProblem) -> ConversationSummary:
    start, end = bounds(conversation)
    return ConversationSummary(
        conversation_id=conversation.conversation_id,
        dimensions=conversation.dimensions,
        start_s=start,
        end_s=end,
        problem=problem,
        ended_by_timeout=conversation.ended_by_timeout,
    )


def _summary(  # noqa: PLR0917 - the per-conversation slice of every kernel's output
    conversation: Conversation,
    index: int,
    arrays: SegmentArrays,
    timing: tuple[npt.NDArray[Any], ...],
    quarters: npt.NDArray[np.float64],
    speed: npt.NDArray[np.float64],
    policy: ConversationPolicy,
    repeats: RepeatContacts | None,
) -> ConversationSummary:
    talk, spoken, silences, longest, talkovers, talkover_by, transfer_wait = timing
    start = float(arrays.conv_start[index])
    end = float(arrays.conv_end[index])
    talk_s = (float(talk[index, 0]), float(talk[index, 1]), float(talk[index, 2]))
    found, met, excerpts = match_words(conversation, start, policy)
    customer_quarters = [float(q) for q in quarters[index, CUSTOMER] if not math.isnan(q)]
    rising = (
        len(customer_quarters) >= 2
        and customer_quarters[0] - customer_quarters[-1] >= policy.negativity_drop
        and customer_quarters[-1] < 0
    )
    frustrated = (
        found.lexicon >= policy.min_lexicon_hits
        or found.repeats >= policy.repeat_min_repeats
        or rising
    )
    wait = float(transfer_wait[index])
    transfer = not math.isnan(wait)
    triggers = tuple(
        name
        for name, fired in (
            ("phrase", found.escalation > 0),
            ("supervisor", found.supervisor > 0),
            ("transfer", transfer),
        )
        if fired
    )
    repeat = bool(
        repeats is not None
        and conversation.customer_id
        and repeats.is_repeat(conversation.customer_id, conversation.conversation_id, start)
    )
    return ConversationSummary(
        conversation_id=conversation.conversation_id,
        dimensions=conversation.dimensions,
        start_s=start,
        end_s=end,
        ended_by_timeout=conversation.ended_by_timeout,
        talk_s=talk_s,
        nontalk_s=max(end - start - float(spoken[index]), 0.0),
        overlap_s=max(sum(talk_s) - float(spoken[index]), 0.0),
        silence_events=int(silences[index]),
        longest_silence_s=float(longest[index]),
        talkover_events=int(talkovers[index]),
        talkover_by=tuple((int(row[0]), int(row[1]), int(row[2])) for row in talkover_by[index]),
        words_per_minute=(float(speed[index, 0]), float(speed[index, 1]), float(speed[index, 2])),
        sentiment_quarters=tuple(
            (float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in quarters[index]
        ),
        lexicon_hits=found.lexicon,
        repeats=found.repeats,
        rising_negativity=rising,
        frustrated=frustrated,
        escalation_phrases=found.escalation,
        supervisor_requests=found.supervisor,
        bot_transfer=transfer,
        transfer_wait_s=wait,
        slow_transfer=transfer and wait > policy.transfer_max_wait_s,
        escalated=bool(triggers),
        escalation_triggers=triggers,
        disclosures=met if found.has_text else {},
        empathy_phrases=found.empathy,
        repeat_contact=repeat,
        has_text=found.has_text,
        excerpts=excerpts,
    )
