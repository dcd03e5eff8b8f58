"""Why a conversation is not analysed: validation codes turned into readable problems."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from cxj_processors.conversations import kernels
from cxj_processors.conversations.arrays import SegmentArrays
from cxj_processors.conversations.model import (
    ERROR_CLOCK_JUMP,
    ERROR_MALFORMED,
    ERROR_OVERLAPPING_TURNS,
    ERROR_UNKNOWN_ROLE,
    ROLES,
    ConversationProblem,
)
from cxj_processors.conversations.policy import ConversationPolicy


def describe(
    code: int,
    rows: npt.NDArray[np.int64],
    arrays: SegmentArrays,
    index: int,
    policy: ConversationPolicy,
) -> ConversationProblem:
    """The problem a validate_segments code stands for, in words that say what to fix."""
    origin = float(arrays.conv_start[index])
    duration = float(arrays.conv_end[index]) - origin

    def turn(row: int) -> str:
        start = float(arrays.start[row]) - origin
        end = float(arrays.end[row]) - origin
        return f"{ROLES[int(arrays.role[row])]} turn at {start:.3f}-{end:.3f} s"

    if code == kernels.BAD_DURATION:
        return _duration_problem(duration, policy)
    row = int(rows[0])
    if code == kernels.REVERSED_SEGMENT:
        return ConversationProblem(
            ERROR_CLOCK_JUMP, f"clock jump: the {turn(row)} ends before it starts"
        )
    if code == kernels.OUTSIDE_CONVERSATION:
        return ConversationProblem(
            ERROR_CLOCK_JUMP,
            f"clock jump: the {turn(row)} lies outside the conversation (0-{duration:.3f} s)",
        )
    if code == kernels.SAME_ROLE_OVERLAP:
        return ConversationProblem(
            ERROR_OVERLAPPING_TURNS,
            f"overlapping turns of one speaker: the {turn(int(rows[1]))} and the {turn(row)}; "
            "merge them or fix the speaker labels",
        )
    return ConversationProblem(ERROR_UNKNOWN_ROLE, f"the {row}th turn has an unknown role")


def _duration_problem(duration: float, policy: ConversationPolicy) -> ConversationProblem:
    if math.isnan(duration):
        return ConversationProblem(ERROR_MALFORMED, "the conversation's start or end is not a time")
    if duration < 0:
        return ConversationProblem(
            ERROR_CLOCK_JUMP,
            f"clock jump: the conversation ends {-duration:.3f} s before it starts",
        )
    return ConversationProblem(
        ERROR_CLOCK_JUMP,
        f"clock jump: the conversation lasts {duration:.0f} s, more than timing.maxDuration "
        f"({policy.max_duration_s:.0f} s)",
    )
