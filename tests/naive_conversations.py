"""Slow, obviously correct references for the conversation kernels.

Everything here works on plain lists of (role, start, end) per conversation and answers each
question the literal way docs/conversations.md states it: cut the conversation at every turn
boundary, and for each elementary interval ask who is speaking. Nothing here is fast, and
nothing imports the code it checks.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

Turn = tuple[int, float, float]  # role, start, end (seconds)
ROLE_COUNT = 3
AGENT, BOT = 0, 2


@dataclass
class Timing:
    """The timing signals of one conversation."""

    talk: list[float] = field(default_factory=lambda: [0.0] * ROLE_COUNT)
    spoken: float = 0.0
    silences: int = 0
    longest: float = 0.0
    talkovers: int = 0
    talkover_by: dict[tuple[int, int], int] = field(default_factory=dict)
    transfer_wait: float = math.nan


def clip(turns: list[Turn], first: float, last: float) -> list[Turn]:
    """The turns cut to the conversation's bounds; empty ones dropped."""
    clipped = [(r, max(s, first), min(e, last)) for r, s, e in turns]
    return [(r, s, e) for r, s, e in clipped if e > s]


def timing(
    turns: list[Turn], first: float, last: float, threshold: float, min_overlap: float
) -> Timing:
    """Every timing signal, from elementary intervals and pairwise comparisons."""
    turns = clip(turns, first, last)
    out = Timing()
    cuts = sorted({first, last, *(s for _, s, _ in turns), *(e for _, _, e in turns)})
    quiet_runs: list[float] = []
    quiet = 0.0
    for left, right in itertools.pairwise(cuts):
        speaking = {r for r, s, e in turns if s <= left and right <= e}
        length = right - left
        for role in speaking:
            out.talk[role] += length
        if speaking:
            out.spoken += length
            if quiet > 0:
                quiet_runs.append(quiet)
            quiet = 0.0
        else:
            quiet += length
    if quiet > 0:
        quiet_runs.append(quiet)
    out.silences = sum(1 for q in quiet_runs if q > threshold)
    out.longest = max(quiet_runs, default=0.0)
    for role, start, end in turns:
        holders = [
            (s, r)
            for r, s, e in turns
            if r != role and s < start < e and min(end, e) - start >= min_overlap
        ]
        if holders:
            _, interrupted = min(holders)
            out.talkovers += 1
            out.talkover_by[(role, interrupted)] = out.talkover_by.get((role, interrupted), 0) + 1
    bot_turns = [t for t in turns if t[0] == BOT]
    if bot_turns:
        first_bot = min(s for _, s, _ in bot_turns)
        # The transfer: the first agent turn starting after the first bot turn started;
        # the wait runs from the end of the bot turns that started before it.
        agent_starts = [s for r, s, _ in turns if r == AGENT and s > first_bot]
        if agent_starts:
            agent = min(agent_starts)
            bot_end = max(e for _, s, e in bot_turns if s < agent)
            out.transfer_wait = max(0.0, agent - bot_end)
    return out


def first_problem(
    turns: list[Turn], first: float, last: float, tolerance: float, max_duration: float
) -> str:
    """The first problem in start order: reversed, outside, overlap, or "" when valid."""
    if not (0 <= last - first <= max_duration):
        return "duration"
    ordered = sorted(turns, key=lambda t: (t[1], t[2], t[0]))
    for index, (role, start, end) in enumerate(ordered):
        if role not in range(ROLE_COUNT):
            return "role"
        if end < start:
            return "reversed"
        if start < first - tolerance or end > last + tolerance:
            return "outside"
        if any(r == role and s < end and start < e for r, s, e in ordered[:index]):
            return "overlap"
    return ""


def sentiment_quarters(
    turns: list[tuple[int, float, float, float]], first: float, last: float
) -> list[list[float]]:
    """Duration-weighted mean sentiment per role and quarter (by a turn's midpoint)."""
    sums = [[0.0] * 4 for _ in range(ROLE_COUNT)]
    weights = [[0.0] * 4 for _ in range(ROLE_COUNT)]
    duration = last - first
    for role, raw_start, raw_end, value in turns:
        start, end = max(raw_start, first), min(raw_end, last)
        if math.isnan(value) or end <= start or duration <= 0:
            continue
        middle = (start + end) / 2
        quarter = next(q for q in range(4) if q == 3 or middle < first + (q + 1) * duration / 4)
        sums[role][quarter] += value * (end - start)
        weights[role][quarter] += end - start
    return [
        [s / w if w > 0 else math.nan for s, w in zip(row_s, row_w, strict=True)]
        for row_s, row_w in zip(sums, weights, strict=True)
    ]


def words_per_minute(
    turns: list[tuple[int, float, float, int]], first: float, last: float
) -> list[float]:
    """Words over minutes of the turns that have text (words >= 0), per role."""
    out = []
    for role in range(ROLE_COUNT):
        mine = [
            (min(e, last) - max(s, first), w)
            for r, s, e, w in turns
            if r == role and w >= 0 and min(e, last) > max(s, first)
        ]
        minutes = sum(length for length, _ in mine) / 60
        out.append(sum(w for _, w in mine) / minutes if minutes > 0 else math.nan)
    return out
