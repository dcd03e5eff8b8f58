"""Conversations packed into the arrays the kernels take, and their bounds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cxj_processors.conversations import phrases
from cxj_processors.conversations.model import Conversation, Segment


@dataclass(frozen=True)
class SegmentArrays:
    """Segments of many conversations as the kernels take them, ordered per conversation."""

    conversation: npt.NDArray[np.int64]
    role: npt.NDArray[np.int8]
    start: npt.NDArray[np.float64]
    end: npt.NDArray[np.float64]
    sentiment: npt.NDArray[np.float64]
    words: npt.NDArray[np.int32]
    conv_start: npt.NDArray[np.float64]
    conv_end: npt.NDArray[np.float64]


def bounds(conversation: Conversation) -> tuple[float, float]:
    """The conversation's (start, end): as given, else from its first and last turn."""
    starts = [s.start_s for s in conversation.segments]
    ends = [s.end_s for s in conversation.segments]
    start = conversation.start_s
    if start is None:
        start = min(starts) if starts else (conversation.end_s or 0.0)
    end = conversation.end_s
    if end is None:
        end = max(ends, default=start)
    return start, end


def ordered(segments: Sequence[Segment]) -> list[Segment]:
    """The segments in kernel order: by start, then end, then role."""
    return sorted(segments, key=lambda s: (s.start_s, s.end_s, s.role))


def to_arrays(conversations: Sequence[Conversation]) -> SegmentArrays:
    """Packs conversations (without problems) into kernel arrays."""
    rows = [
        (index, segment)
        for index, conversation in enumerate(conversations)
        for segment in ordered(conversation.segments)
    ]
    spans = [bounds(conversation) for conversation in conversations]
    return SegmentArrays(
        conversation=np.array([index for index, _ in rows], dtype=np.int64),
        role=np.array([s.role for _, s in rows], dtype=np.int8),
        start=np.array([s.start_s for _, s in rows], dtype=np.float64),
        end=np.array([s.end_s for _, s in rows], dtype=np.float64),
        sentiment=np.array([s.sentiment for _, s in rows], dtype=np.float64),
        words=np.array(
            [-1 if s.text is None else len(phrases.words(s.text)) for _, s in rows],
            dtype=np.int32,
        ),
        conv_start=np.array([start for start, _ in spans], dtype=np.float64),
        conv_end=np.array([end for _, end in spans], dtype=np.float64),
    )
