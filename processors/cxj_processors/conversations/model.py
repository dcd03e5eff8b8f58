"""The conversation contract: input attribute names, roles, conversations in, summaries out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

# Roles: the index is the role code the kernels use.
ROLES: Final = ("agent", "customer", "bot")
AGENT, CUSTOMER, BOT = 0, 1, 2
ROLE_CODES: Final = {name: code for code, name in enumerate(ROLES)}

# Input: one OTLP log record per speech segment, and one at the end of the conversation.
EVENT_SEGMENT: Final = "cx.conversation.segment"
EVENT_END: Final = "cx.conversation.end"
CONVERSATION_ID: Final = "cx.conversation.id"
ROLE: Final = "cx.conversation.role"
SEGMENT_START: Final = "cx.conversation.segment.start_time"  # int, Unix ns
SEGMENT_END: Final = "cx.conversation.segment.end_time"  # int, Unix ns
SENTIMENT: Final = "cx.conversation.sentiment"  # double, -1 (negative) .. 1 (positive)
CONVERSATION_START: Final = "cx.conversation.start_time"  # int, Unix ns (end record)
CONVERSATION_END: Final = "cx.conversation.end_time"  # int, Unix ns (end record)
QUEUE: Final = "cx.conversation.queue"
TEAM: Final = "cx.conversation.team"
AGENT_ID: Final = "cx.conversation.agent"
CUSTOMER_ID: Final = "cx.conversation.customer.id"  # used for repeat contacts, never exported

# Output: one summary log record per conversation, and metrics by team, queue and agent.
EVENT_SUMMARY: Final = "cx.conversation.summary"
UNKNOWN: Final = "unknown"

# Why a conversation was not analysed (cx.conversation.error on the summary and metrics).
ERROR_UNKNOWN_ROLE: Final = "unknown-role"
ERROR_MISSING_END: Final = "missing-end"
ERROR_OVERLAPPING_TURNS: Final = "overlapping-turns"
ERROR_CLOCK_JUMP: Final = "clock-jump"
ERROR_MALFORMED: Final = "malformed"
ERROR_TOO_MANY_SEGMENTS: Final = "too-many-segments"
ERROR_CODES: Final = (
    ERROR_UNKNOWN_ROLE,
    ERROR_MISSING_END,
    ERROR_OVERLAPPING_TURNS,
    ERROR_CLOCK_JUMP,
    ERROR_MALFORMED,
    ERROR_TOO_MANY_SEGMENTS,
)

# Flags a summary can carry, in the order they are listed.
FLAGS: Final = (
    "rejected",
    "long-silence",
    "talk-over",
    "frustrated",
    "rising-negativity",
    "escalated",
    "supervisor-request",
    "bot-transfer",
    "slow-transfer",
    "disclosure-missed",
    "repeat-contact",
    "ended-by-timeout",
)


@dataclass(frozen=True)
class Dimensions:
    """The low-cardinality groups a conversation's metrics are aggregated by."""

    team: str = UNKNOWN
    queue: str = UNKNOWN
    agent: str = UNKNOWN


@dataclass(frozen=True)
class Segment:
    """One speech turn: who spoke, when (seconds on the conversation's clock), and what."""

    role: int
    start_s: float
    end_s: float
    text: str | None = None
    sentiment: float = math.nan  # -1 .. 1; NaN when not given


@dataclass
class Conversation:
    """One conversation as read: its turns, its bounds when known, and what is wrong with it.

    `start_s`/`end_s` are None when no record gave them (the start then defaults to the first
    turn's start). `problem` is set by a reader that could not make sense of the input
    (e.g. an unknown role); such a conversation is reported, never analysed.
    """

    conversation_id: str
    segments: list[Segment] = field(default_factory=list)
    start_s: float | None = None
    end_s: float | None = None
    dimensions: Dimensions = field(default_factory=Dimensions)
    customer_id: str | None = None
    ended_by_timeout: bool = False
    problem: ConversationProblem | None = None


@dataclass(frozen=True)
class ConversationProblem:
    """Why one conversation is not analysed: a code from ERROR_CODES and a readable reason."""

    code: str
    reason: str


@dataclass(frozen=True)
class Excerpt:
    """A moment worth reviewing, with the (redacted) words said, when text may be exported."""

    label: str  # e.g. "escalation: file a complaint"
    at_s: float  # seconds after the conversation's start
    role: str
    text: str


@dataclass(frozen=True)
class ConversationSummary:
    """Every signal of one conversation (see docs/conversations.md for each definition).

    Times are seconds. Ratios and rates are NaN when undefined (no text, no sentiment, a
    zero-length conversation). A rejected conversation carries only its identity, bounds as
    far as known, and `problem`.
    """

    conversation_id: str
    dimensions: Dimensions
    start_s: float
    end_s: float
    problem: ConversationProblem | None = None
    ended_by_timeout: bool = False
    talk_s: tuple[float, float, float] = (0.0, 0.0, 0.0)  # by role
    nontalk_s: float = 0.0
    overlap_s: float = 0.0
    silence_events: int = 0
    longest_silence_s: float = 0.0
    talkover_events: int = 0
    talkover_by: tuple[tuple[int, int, int], ...] = ((0, 0, 0), (0, 0, 0), (0, 0, 0))
    words_per_minute: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    sentiment_quarters: tuple[tuple[float, float, float, float], ...] = ()  # by role
    lexicon_hits: int = 0
    repeats: int = 0
    rising_negativity: bool = False
    frustrated: bool = False
    escalation_phrases: int = 0
    supervisor_requests: int = 0
    bot_transfer: bool = False
    transfer_wait_s: float = math.nan
    slow_transfer: bool = False
    escalated: bool = False
    escalation_triggers: tuple[str, ...] = ()  # phrase, supervisor, transfer
    disclosures: dict[str, bool] = field(default_factory=dict)  # applicable rule -> met
    empathy_phrases: int = 0
    repeat_contact: bool = False
    has_text: bool = False
    excerpts: tuple[Excerpt, ...] = ()

    @property
    def duration_s(self) -> float:
        """End minus start."""
        return self.end_s - self.start_s

    @property
    def nontalk_ratio(self) -> float:
        """Share of the conversation in which nobody speaks."""
        return self.nontalk_s / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def talk_ratio(self) -> tuple[float, float, float]:
        """Share of the conversation each role speaks (overlapping speech counts for both)."""
        if self.duration_s <= 0:
            return (math.nan, math.nan, math.nan)
        agent, customer, bot = (t / self.duration_s for t in self.talk_s)
        return (agent, customer, bot)

    @property
    def flags(self) -> tuple[str, ...]:
        """The conversation's flags, in FLAGS order."""
        raised = {
            "rejected": self.problem is not None,
            "long-silence": self.silence_events > 0,
            "talk-over": self.talkover_events > 0,
            "frustrated": self.frustrated,
            "rising-negativity": self.rising_negativity,
            "escalated": self.escalated,
            "supervisor-request": self.supervisor_requests > 0,
            "bot-transfer": self.bot_transfer,
            "slow-transfer": self.slow_transfer,
            "disclosure-missed": not all(self.disclosures.values()),
            "repeat-contact": self.repeat_contact,
            "ended-by-timeout": self.ended_by_timeout,
        }
        return tuple(flag for flag in FLAGS if raised[flag])
