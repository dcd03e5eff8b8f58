"""Numba kernels of the conversation timing signals: arrays of speech segments in, arrays out.

Segments are parallel arrays, one row per speech turn: `conversation` (int64, a dense index
into the per-conversation arrays `conv_start`/`conv_end`), `role` (int8, 0 agent, 1 customer,
2 bot), `start` and `end` (float64 seconds on one clock). `timing_signals` and
`validate_segments` need the rows ordered by (conversation, start, end, role), which
`segment_order` gives; the other kernels take any order. Segments are clipped to their
conversation's bounds. Compilation options are the processor's (`cxj_processors.kernels`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import kernel

ROLE_COUNT = 3
_AGENT, _BOT = 0, 2

# validate_segments codes, one per conversation.
VALID = 0
REVERSED_SEGMENT = 1  # a segment ends before it starts (the clock jumped back)
SAME_ROLE_OVERLAP = 2  # two turns of one role overlap
OUTSIDE_CONVERSATION = 3  # a segment lies outside the conversation by more than the tolerance
BAD_DURATION = 4  # the conversation ends before it starts, or lasts longer than allowed
BAD_ROLE = 5  # a role code outside 0..2

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def segment_order(
    conversation: Ints, role: npt.NDArray[np.int8], start: Floats, end: Floats
) -> Ints:
    """Returns the permutation that orders segments by (conversation, start, end, role).

    Input that is already in that order (as the analyzer builds it) costs one pass.
    """
    n = conversation.shape[0]
    if n < 2 or _is_ordered(conversation, role, start, end):
        return np.arange(n, dtype=np.int64)
    return np.lexsort((role, end, start, conversation)).astype(np.int64)


def _is_ordered(conversation: Ints, role: npt.NDArray[np.int8], start: Floats, end: Floats) -> bool:
    c0, c1 = conversation[:-1], conversation[1:]
    s0, s1 = start[:-1], start[1:]
    e0, e1 = end[:-1], end[1:]
    r0, r1 = role[:-1], role[1:]
    same_c = c0 == c1
    same_s = same_c & (s0 == s1)
    same_e = same_s & (e0 == e1)
    ordered = (c0 < c1) | (same_c & (s0 < s1)) | (same_s & (e0 < e1)) | (same_e & (r0 <= r1))
    return bool(ordered.all())


@kernel
def validate_segments(  # noqa: PLR0917 - kernels take their arrays positionally
    conversation: Ints,
    role: npt.NDArray[np.int8],
    start: Floats,
    end: Floats,
    conv_start: Floats,
    conv_end: Floats,
    tolerance_s: float,
    max_duration_s: float,
) -> tuple[npt.NDArray[np.int8], Ints]:
    """The first problem of each conversation: a code, and the segments involved.

    Returns (codes (C,), offending (C, 2)): offending holds the row of the bad segment and,
    for SAME_ROLE_OVERLAP, the row of the earlier turn it overlaps (else -1).
    """
    n_conv = conv_start.shape[0]
    codes = np.zeros(n_conv, dtype=np.int8)
    offending = np.full((n_conv, 2), -1, dtype=np.int64)
    for c in range(n_conv):
        duration = conv_end[c] - conv_start[c]
        if not (duration >= 0.0 and duration <= max_duration_s):  # NaN fails too
            codes[c] = BAD_DURATION
    role_end = np.empty(ROLE_COUNT, dtype=np.float64)
    role_row = np.empty(ROLE_COUNT, dtype=np.int64)
    current = -1
    for i in range(conversation.shape[0]):
        c = conversation[i]
        if c != current:
            current = c
            role_end[:] = -np.inf
            role_row[:] = -1
        if codes[c] != VALID:
            continue
        r = role[i]
        s = start[i]
        e = end[i]
        if r < 0 or r >= ROLE_COUNT:
            codes[c] = BAD_ROLE
            offending[c, 0] = i
        elif not (e >= s):
            codes[c] = REVERSED_SEGMENT
            offending[c, 0] = i
        elif s < conv_start[c] - tolerance_s or e > conv_end[c] + tolerance_s:
            codes[c] = OUTSIDE_CONVERSATION
            offending[c, 0] = i
        elif s < role_end[r]:
            codes[c] = SAME_ROLE_OVERLAP
            offending[c, 0] = i
            offending[c, 1] = role_row[r]
        elif e > role_end[r]:
            role_end[r] = e
            role_row[r] = i
    return codes, offending


@kernel
def timing_signals(  # noqa: PLR0917, PLR0912, PLR0915 - one pass computes every timing signal
    conversation: Ints,
    role: npt.NDArray[np.int8],
    start: Floats,
    end: Floats,
    conv_start: Floats,
    conv_end: Floats,
    silence_threshold_s: float,
    min_overlap_s: float,
) -> tuple[Floats, Floats, Ints, Floats, Ints, Ints, Floats]:
    """Talk, silence, talk-over and transfer signals of every conversation in one pass.

    Returns, per conversation c:
      talk (C, 3): seconds each role speaks (the union of its turns);
      spoken (C,): seconds anyone speaks (non-talk is duration - spoken);
      silences (C,): maximal stretches nobody speaks longer than the threshold;
      longest (C,): the longest such stretch, whatever its length;
      talkovers (C,): turns that start strictly inside another role's turn and overlap it by
        at least min_overlap_s;
      talkover_by (C, 3, 3): those events by [interrupter, interrupted], the interrupted
        being the overlapped role whose turn began first;
      transfer_wait (C,): from the latest end of the bot turns that started before the first
        agent turn starting after the first bot turn, to that agent turn (>= 0); NaN
        without a bot-to-human transfer.
    """
    n_conv = conv_start.shape[0]
    n = conversation.shape[0]
    talk = np.zeros((n_conv, ROLE_COUNT), dtype=np.float64)
    spoken = np.zeros(n_conv, dtype=np.float64)
    silences = np.zeros(n_conv, dtype=np.int64)
    longest = np.zeros(n_conv, dtype=np.float64)
    talkovers = np.zeros(n_conv, dtype=np.int64)
    talkover_by = np.zeros((n_conv, ROLE_COUNT, ROLE_COUNT), dtype=np.int64)
    transfer_wait = np.full(n_conv, np.nan, dtype=np.float64)
    for c in range(n_conv):  # a conversation without segments is one silence
        duration = max(conv_end[c] - conv_start[c], 0.0)
        longest[c] = duration
        silences[c] = 1 if duration > silence_threshold_s else 0
    role_end = np.empty(ROLE_COUNT, dtype=np.float64)
    run_start = np.empty(ROLE_COUNT, dtype=np.float64)
    i = 0
    while i < n:
        c = conversation[i]
        first = conv_start[c]
        last = conv_end[c]
        role_end[:] = first
        run_start[:] = np.inf
        spoken_end = first
        union = 0.0
        count = 0
        long = 0.0
        first_bot = np.inf  # start of the first bot turn
        bot_end = -np.inf  # latest end of bot turns that started before `bot_start`
        bot_start = -np.inf  # start of the latest bot turns, whose ends are in `bot_end_next`
        bot_end_next = -np.inf
        while i < n and conversation[i] == c:
            r = role[i]
            s = max(start[i], first)
            e = min(end[i], last)
            i += 1
            if not (e > s):
                continue
            if s > spoken_end:
                gap = s - spoken_end
                count += 1 if gap > silence_threshold_s else 0
                long = max(long, gap)
                union += e - s
                spoken_end = e
            elif e > spoken_end:
                union += e - spoken_end
                spoken_end = e
            interrupted = -1
            holder_start = np.inf
            for q in range(ROLE_COUNT):
                if (
                    q != r
                    and run_start[q] < s < role_end[q]
                    and min(e, role_end[q]) - s >= min_overlap_s
                    and run_start[q] < holder_start
                ):
                    interrupted = q
                    holder_start = run_start[q]
            if interrupted >= 0:
                talkovers[c] += 1
                talkover_by[c, r, interrupted] += 1
            if s >= role_end[r]:
                talk[c, r] += e - s
                role_end[r] = e
                run_start[r] = s
            elif e > role_end[r]:
                talk[c, r] += e - role_end[r]
                role_end[r] = e
            if s > bot_start:  # bot turns that started earlier now count as before
                bot_end = max(bot_end, bot_end_next)
            if r == _BOT:
                first_bot = min(first_bot, s)
                if s > bot_start:
                    bot_start = s
                    bot_end_next = e
                else:
                    bot_end_next = max(bot_end_next, e)
            elif r == _AGENT and s > first_bot and np.isnan(transfer_wait[c]):
                transfer_wait[c] = max(0.0, s - bot_end)
        trailing = last - spoken_end
        if trailing > 0.0:
            count += 1 if trailing > silence_threshold_s else 0
            long = max(long, trailing)
        spoken[c] = union
        silences[c] = count
        longest[c] = long
    return talk, spoken, silences, longest, talkovers, talkover_by, transfer_wait


@kernel
def sentiment_by_quarter(  # noqa: PLR0917 - kernels take their arrays positionally
    conversation: Ints,
    role: npt.NDArray[np.int8],
    start: Floats,
    end: Floats,
    sentiment: Floats,
    conv_start: Floats,
    conv_end: Floats,
) -> npt.NDArray[np.float64]:
    """Duration-weighted mean sentiment per (conversation, role, quarter); NaN where none.

    A segment belongs to the quarter of the conversation holding its midpoint; segments
    without sentiment (NaN) are ignored. Shape (C, 3, 4).
    """
    n_conv = conv_start.shape[0]
    total = np.zeros((n_conv, ROLE_COUNT, 4), dtype=np.float64)
    weight = np.zeros((n_conv, ROLE_COUNT, 4), dtype=np.float64)
    for i in range(conversation.shape[0]):
        value = sentiment[i]
        if np.isnan(value):
            continue
        c = conversation[i]
        duration = conv_end[c] - conv_start[c]
        s = max(start[i], conv_start[c])
        e = min(end[i], conv_end[c])
        if not (e > s) or duration <= 0.0:
            continue
        quarter = int(4.0 * ((s + e) / 2.0 - conv_start[c]) / duration)
        quarter = min(max(quarter, 0), 3)
        total[c, role[i], quarter] += value * (e - s)
        weight[c, role[i], quarter] += e - s
    out = np.full((n_conv, ROLE_COUNT, 4), np.nan, dtype=np.float64)
    for c in range(n_conv):
        for r in range(ROLE_COUNT):
            for q in range(4):
                if weight[c, r, q] > 0.0:
                    out[c, r, q] = total[c, r, q] / weight[c, r, q]
    return out


@kernel
def talk_speed(  # noqa: PLR0917 - kernels take their arrays positionally
    conversation: Ints,
    role: npt.NDArray[np.int8],
    start: Floats,
    end: Floats,
    words: npt.NDArray[np.int32],
    conv_start: Floats,
    conv_end: Floats,
) -> npt.NDArray[np.float64]:
    """Words per minute per (conversation, role) over the segments that have text.

    `words` is -1 for a segment without text. NaN where a role has no text. Shape (C, 3).
    """
    n_conv = conv_start.shape[0]
    minutes = np.zeros((n_conv, ROLE_COUNT), dtype=np.float64)
    counted = np.zeros((n_conv, ROLE_COUNT), dtype=np.float64)
    for i in range(conversation.shape[0]):
        if words[i] < 0:
            continue
        c = conversation[i]
        s = max(start[i], conv_start[c])
        e = min(end[i], conv_end[c])
        if e > s:
            minutes[c, role[i]] += (e - s) / 60.0
            counted[c, role[i]] += words[i]
    out = np.full((n_conv, ROLE_COUNT), np.nan, dtype=np.float64)
    for c in range(n_conv):
        for r in range(ROLE_COUNT):
            if minutes[c, r] > 0.0:
                out[c, r] = counted[c, r] / minutes[c, r]
    return out
