"""The conversation timing kernels against slow references, hand-worked cases and properties."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tests import naive_conversations as naive
from tests.harness.python import run_python

from cxj_processors.conversations import kernels

REPO = Path(__file__).resolve().parents[2]
A, C, B = 0, 1, 2  # agent, customer, bot
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Packed:
    conversation: npt.NDArray[np.int64]
    role: npt.NDArray[np.int8]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    conv_start: npt.NDArray[np.float64]
    conv_end: npt.NDArray[np.float64]


def pack(conversations: list[tuple[float, float, list[naive.Turn]]]) -> Packed:
    rows = [(c, *turn) for c, (_, _, turns) in enumerate(conversations) for turn in turns]
    packed = Packed(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int8),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.float64),
        np.array([first for first, _, _ in conversations], dtype=np.float64),
        np.array([last for _, last, _ in conversations], dtype=np.float64),
    )
    return reorder(
        packed, kernels.segment_order(packed.conversation, packed.role, packed.start, packed.end)
    )


def reorder(p: Packed, order: npt.NDArray[np.int64]) -> Packed:
    return Packed(
        p.conversation[order], p.role[order], p.start[order], p.end[order], p.conv_start, p.conv_end
    )


def run_timing(p: Packed, threshold: float = 5.0, min_overlap: float = 0.0) -> list[naive.Timing]:
    talk, spoken, silences, longest, talkovers, by, wait = kernels.timing_signals(
        p.conversation, p.role, p.start, p.end, p.conv_start, p.conv_end, threshold, min_overlap
    )
    out = []
    for c in range(p.conv_start.shape[0]):
        out.append(
            naive.Timing(
                talk=[float(t) for t in talk[c]],
                spoken=float(spoken[c]),
                silences=int(silences[c]),
                longest=float(longest[c]),
                talkovers=int(talkovers[c]),
                talkover_by={
                    (i, j): int(by[c, i, j]) for i in range(3) for j in range(3) if by[c, i, j]
                },
                transfer_wait=float(wait[c]),
            )
        )
    return out


def same(ours: naive.Timing, reference: naive.Timing) -> bool:
    def close(a: float, b: float) -> bool:
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, abs_tol=1e-9)

    return (
        all(close(a, b) for a, b in zip(ours.talk, reference.talk, strict=True))
        and close(ours.spoken, reference.spoken)
        and ours.silences == reference.silences
        and close(ours.longest, reference.longest)
        and ours.talkovers == reference.talkovers
        and ours.talkover_by == reference.talkover_by
        and close(ours.transfer_wait, reference.transfer_wait)
    )


# -- hand-worked cases ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    turns: list[naive.Turn]
    end: float
    expect: naive.Timing
    threshold: float = 5.0
    min_overlap: float = 0.0


CASES = [
    Case(
        "polite-alternation",
        [(A, 1, 5), (C, 6, 10), (A, 11, 14)],
        15,
        naive.Timing(talk=[7, 4, 0], spoken=11, silences=0, longest=1),
    ),
    Case(
        "customer-talks-over-agent",
        [(A, 0, 6), (C, 4, 9)],
        10,
        naive.Timing(talk=[6, 5, 0], spoken=9, longest=1, talkovers=1, talkover_by={(C, A): 1}),
    ),
    Case(
        "dead-air-in-the-middle-and-at-the-start",
        [(A, 7, 9), (C, 20, 22)],
        23,
        naive.Timing(talk=[2, 2, 0], spoken=4, silences=2, longest=11),
    ),
    Case(
        "silence-exactly-at-threshold-is-not-an-event",
        [(A, 0, 2), (C, 7, 9)],
        9,
        naive.Timing(talk=[2, 2, 0], spoken=4, silences=0, longest=5),
    ),
    Case(
        "nobody-speaks",
        [],
        30,
        naive.Timing(silences=1, longest=30),
    ),
    Case(
        "backchannel-below-min-overlap-is-not-talk-over",
        [(A, 0, 10), (C, 3, 3.5), (C, 6, 12)],
        12,
        naive.Timing(talk=[10, 6.5, 0], spoken=12, talkovers=1, talkover_by={(C, A): 1}),
        min_overlap=1.0,
    ),
    Case(
        "three-parties-interrupted-is-the-floor-holder",
        [(A, 0, 10), (B, 2, 8), (C, 4, 6)],
        10,
        naive.Timing(talk=[10, 2, 6], spoken=10, talkovers=2, talkover_by={(B, A): 1, (C, A): 1}),
    ),
    Case(
        "simultaneous-starts-overlap-without-interrupting",
        [(A, 0, 4), (C, 0, 3)],
        4,
        naive.Timing(talk=[4, 3, 0], spoken=4),
    ),
    Case(
        "bot-to-human-transfer-wait",
        [(B, 0, 4), (C, 5, 7), (B, 8, 10), (A, 40, 45)],
        46,
        naive.Timing(talk=[5, 2, 6], spoken=13, silences=1, longest=30, transfer_wait=30),
    ),
    Case(
        "turns-outside-the-bounds-are-clipped",
        [(A, -0.5, 3), (C, 4, 12)],
        10,
        naive.Timing(talk=[3, 6, 0], spoken=9, longest=1),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hand_worked_timing(case: Case) -> None:
    (ours,) = run_timing(pack([(0.0, case.end, case.turns)]), case.threshold, case.min_overlap)
    assert same(ours, case.expect), ours
    reference = naive.timing(case.turns, 0.0, case.end, case.threshold, case.min_overlap)
    assert same(reference, case.expect), reference


# -- against the reference -----------------------------------------------------------------------
TICKS = st.integers(0, 400).map(lambda t: t / 8)  # dyadic: exact in binary floating point


@st.composite
def valid_conversation(draw: st.DrawFn) -> tuple[float, float, list[naive.Turn]]:
    """Random turns; one role's turns never overlap (they may touch); bounds may clip them."""
    turns: list[naive.Turn] = []
    for role in range(3):
        cursor = draw(TICKS)
        for _ in range(draw(st.integers(0, 6))):
            start = cursor + draw(TICKS) / 4
            end = start + draw(st.integers(1, 80)) / 8
            turns.append((role, start, end))
            cursor = end
    first = draw(st.integers(-8, 16)) / 8
    last = first + draw(st.integers(0, 1600)) / 8
    return first, last, turns


CONVERSATIONS = st.lists(valid_conversation(), min_size=1, max_size=5)


@PROPERTY
@given(
    conversations=CONVERSATIONS,
    threshold=st.sampled_from([0.5, 2.0, 5.0]),
    min_overlap=st.sampled_from([0.0, 0.5, 1.0]),
)
# An agent turn starting at the same instant as the first bot turn is no transfer.
@example(conversations=[(0.0, 0.125, [(0, 0.0, 0.125), (2, 0.0, 0.125)])], threshold=0.5,
         min_overlap=0.0)  # fmt: skip
def test_timing_matches_the_reference(
    conversations: list[tuple[float, float, list[naive.Turn]]], threshold: float, min_overlap: float
) -> None:
    ours = run_timing(pack(conversations), threshold, min_overlap)
    for index, (first, last, turns) in enumerate(conversations):
        reference = naive.timing(turns, first, last, threshold, min_overlap)
        assert same(ours[index], reference), (index, ours[index], reference)


@PROPERTY
@given(conversations=CONVERSATIONS)
def test_talk_plus_silence_minus_overlap_is_the_duration(
    conversations: list[tuple[float, float, list[naive.Turn]]],
) -> None:
    for (first, last, _), timing in zip(
        conversations, run_timing(pack(conversations)), strict=True
    ):
        nontalk = (last - first) - timing.spoken
        overlap = sum(timing.talk) - timing.spoken
        assert sum(timing.talk) + nontalk - overlap == pytest.approx(last - first, abs=1e-9)
        assert overlap >= -1e-9
        assert 0 <= timing.longest <= last - first + 1e-9


@PROPERTY
@given(conversations=CONVERSATIONS, seed=st.integers(0, 2**32 - 1))
def test_input_order_changes_nothing(
    conversations: list[tuple[float, float, list[naive.Turn]]], seed: int
) -> None:
    packed = pack(conversations)
    shuffled = reorder(
        packed, np.random.default_rng(seed).permutation(packed.conversation.shape[0])
    )
    again = reorder(
        shuffled,
        kernels.segment_order(shuffled.conversation, shuffled.role, shuffled.start, shuffled.end),
    )
    for ours, theirs in zip(run_timing(packed), run_timing(again), strict=True):
        assert same(ours, theirs)


@st.composite
def any_conversation(draw: st.DrawFn) -> tuple[float, float, list[naive.Turn]]:
    """Turns that may be reversed, overlap within a role, stick out, or carry a bad role."""
    turns = [
        (draw(st.sampled_from([0, 0, 1, 1, 2, 3])), draw(TICKS), draw(TICKS))
        for _ in range(draw(st.integers(0, 8)))
    ]
    first = draw(TICKS) - 10
    last = first + draw(st.integers(-8, 800)) / 8
    return first, last, turns


CODES = {
    "": kernels.VALID,
    "duration": kernels.BAD_DURATION,
    "role": kernels.BAD_ROLE,
    "reversed": kernels.REVERSED_SEGMENT,
    "outside": kernels.OUTSIDE_CONVERSATION,
    "overlap": kernels.SAME_ROLE_OVERLAP,
}


@PROPERTY
@given(conversations=st.lists(any_conversation(), min_size=1, max_size=5))
def test_validation_matches_the_reference(
    conversations: list[tuple[float, float, list[naive.Turn]]],
) -> None:
    p = pack(conversations)
    codes, _ = kernels.validate_segments(
        p.conversation, p.role, p.start, p.end, p.conv_start, p.conv_end, 1.0, 60.0
    )
    for index, (first, last, turns) in enumerate(conversations):
        assert codes[index] == CODES[naive.first_problem(turns, first, last, 1.0, 60.0)]


def test_validation_names_both_overlapping_turns() -> None:
    p = pack([(0.0, 30.0, [(A, 0, 5), (C, 1, 2), (A, 4, 8)])])
    codes, offending = kernels.validate_segments(
        p.conversation, p.role, p.start, p.end, p.conv_start, p.conv_end, 1.0, 60.0
    )
    assert codes[0] == kernels.SAME_ROLE_OVERLAP
    assert (p.start[offending[0, 1]], p.start[offending[0, 0]]) == (0.0, 4.0)


@PROPERTY
@given(
    conversations=CONVERSATIONS,
    values=st.lists(
        st.sampled_from([math.nan, -1.0, -0.5, 0.0, 0.25, 1.0]), min_size=64, max_size=64
    ),
    counts=st.lists(st.integers(-1, 40), min_size=64, max_size=64),
)
def test_sentiment_and_talk_speed_match_the_reference(
    conversations: list[tuple[float, float, list[naive.Turn]]],
    values: list[float],
    counts: list[int],
) -> None:
    p = pack(conversations)
    n = p.conversation.shape[0]
    sentiment = np.array((values * (n // 64 + 1))[:n], dtype=np.float64)
    words = np.array((counts * (n // 64 + 1))[:n], dtype=np.int32)
    quarters = kernels.sentiment_by_quarter(
        p.conversation, p.role, p.start, p.end, sentiment, p.conv_start, p.conv_end
    )
    speed = kernels.talk_speed(
        p.conversation, p.role, p.start, p.end, words, p.conv_start, p.conv_end
    )
    for c, (first, last, _) in enumerate(conversations):
        rows = np.flatnonzero(p.conversation == c)
        mine_s = [
            (int(p.role[i]), float(p.start[i]), float(p.end[i]), float(sentiment[i])) for i in rows
        ]
        mine_w = [(int(p.role[i]), float(p.start[i]), float(p.end[i]), int(words[i])) for i in rows]
        assert np.allclose(
            quarters[c], naive.sentiment_quarters(mine_s, first, last), equal_nan=True
        )
        assert np.allclose(speed[c], naive.words_per_minute(mine_w, first, last), equal_nan=True)


def test_kernels_give_the_same_answers_with_jit_disabled() -> None:
    """Under NUMBA_DISABLE_JIT=1 the kernels run as plain Python with the same results."""
    script = textwrap.dedent(
        """
        import numba
        assert numba.config.DISABLE_JIT
        from tests.unit.test_conversation_kernels import CASES, pack, run_timing, same
        for case in CASES:
            (ours,) = run_timing(pack([(0.0, case.end, case.turns)]), case.threshold,
                                 case.min_overlap)
            assert same(ours, case.expect), (case.name, ours)
        print("same")
        """
    )
    assert run_python(script, env={"NUMBA_DISABLE_JIT": "1"}, timeout=300).strip() == "same"
