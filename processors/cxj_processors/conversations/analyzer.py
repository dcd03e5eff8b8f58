"""The processor's conversation analyzer: OTLP logs in; metrics, summaries and status out.

Conversations are assembled from their segment records and analysed when their end record
arrives, or when no record has arrived for `timing.idleTimeout` (processor time; they are
then flagged ended-by-timeout and end with their last turn). State is bounded:

* at most `max_open` conversations in progress; past that the least recently active one
  is closed as if idle;
* at most `max_segments` segments per conversation; later ones are dropped and counted,
  and the conversation is reported as too-many-segments;
* finished conversation ids are remembered (at most `max_finished`) so that late records
  are counted and dropped instead of opening a phantom conversation;
* summaries wait for `summaries_request` in a queue of at most `max_pending` (the oldest
  are dropped and counted); metric totals are bounded by group (see totals.py).

Thread-safe: the receivers and the export loop may call it concurrently.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cxj_processors.conversations import documents, metrics, otlp
from cxj_processors.conversations.decode import Context, EndRecord, SegmentRecord, decode_logs
from cxj_processors.conversations.model import (
    AGENT,
    CUSTOMER,
    ERROR_TOO_MANY_SEGMENTS,
    UNKNOWN,
    Conversation,
    ConversationProblem,
    ConversationSummary,
    Dimensions,
    Segment,
)
from cxj_processors.conversations.policy import ConversationPolicy, default_policy
from cxj_processors.conversations.repeats import RepeatContacts
from cxj_processors.conversations.signals import analyze
from cxj_processors.conversations.totals import Totals

__all__ = ["AcceptResult", "ConversationAnalyzer"]


@dataclass(frozen=True)
class AcceptResult:
    """What one logs request did: records used, left aside, and why some were refused.

    `rejected` (conversation events without a conversation id) maps to the OTLP partial
    success `rejected_log_records` with `message` as its error message.
    """

    segments: int = 0
    ends: int = 0
    ignored: int = 0  # log records that are not conversation events
    rejected: int = 0
    late: int = 0  # records of conversations that had already ended
    finished: int = 0  # conversations analysed (or reported) because of this request
    message: str = ""


@dataclass
class _Open:
    conversation: Conversation
    last_seen: float
    context: dict[str, str] = field(default_factory=dict)
    registered_start: float | None = None


@dataclass
class _Counters:
    segments: int = 0
    ends: int = 0
    rejected: int = 0
    late: int = 0
    dropped: int = 0
    summaries_dropped: int = 0


class ConversationAnalyzer:
    """Assembles conversations from OTLP logs, analyses each one, and keeps the totals."""

    def __init__(
        self,
        policy: ConversationPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_open: int = 50_000,
        max_segments: int = 5_000,
        max_finished: int = 100_000,
        max_pending: int = 10_000,
        max_groups: int = 2_000,
        recent_size: int = 50,
    ) -> None:
        self.policy = policy or default_policy()
        self.clock = clock
        self.max_open = max_open
        self.max_segments = max_segments
        self.max_finished = max_finished
        self.started_ns = int(clock() * 1e9)
        self.totals = Totals(max_groups)
        self.repeats = RepeatContacts(
            self.policy.repeat_window_s, retention_s=_retention(self.policy)
        )
        self.counters = _Counters()
        self._open: OrderedDict[str, _Open] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._pending: deque[ConversationSummary] = deque()
        self._max_pending = max_pending
        self._recent: deque[ConversationSummary] = deque(maxlen=recent_size)
        self._lock = threading.Lock()

    # -- input ---------------------------------------------------------------------------
    def accept_logs(self, payload: bytes) -> AcceptResult:
        """Takes one ExportLogsServiceRequest; analyses the conversations it completes.

        Raises:
            MalformedLogs: (a ValueError) when the payload is not valid protobuf; nothing of
                it is kept.
        """
        decoded = decode_logs(payload)
        with self._lock:
            now = self.clock()
            done: list[Conversation] = []
            segments = ends = late = 0
            # Segments before ends: the order of records within one request never matters.
            records = sorted(decoded.records, key=lambda r: isinstance(r, EndRecord))
            for record in records:
                if record.conversation_id in self._finished:
                    late += 1
                    continue
                if isinstance(record, EndRecord):
                    ends += 1
                    done.append(self._end(record, now))
                else:
                    segments += 1
                    self._segment(record, now)
            done.extend(self._expire(now))
            self.counters.segments += segments
            self.counters.ends += ends
            self.counters.late += late
            self.counters.rejected += decoded.rejected
            self._finish(done)
        return AcceptResult(
            segments=segments,
            ends=ends,
            ignored=decoded.ignored,
            rejected=decoded.rejected,
            late=late,
            finished=len(done),
            message=decoded.rejected_reason,
        )

    def _conversation(self, record: SegmentRecord | EndRecord, now: float) -> _Open:
        entry = self._open.pop(record.conversation_id, None)
        if entry is None:
            entry = _Open(Conversation(record.conversation_id), now)
        entry.last_seen = now
        self._open[record.conversation_id] = entry  # most recently active last
        _merge(entry, record.context)
        return entry

    def _segment(self, record: SegmentRecord, now: float) -> None:
        entry = self._conversation(record, now)
        conversation = entry.conversation
        if record.problem is not None:
            conversation.problem = conversation.problem or record.problem
        elif record.segment is not None:
            if len(conversation.segments) >= self.max_segments:
                self.counters.dropped += 1
                conversation.problem = conversation.problem or ConversationProblem(
                    ERROR_TOO_MANY_SEGMENTS,
                    f"more than {self.max_segments} segments; the rest were dropped",
                )
            else:
                conversation.segments.append(record.segment)
        self._register(entry, record.segment.start_s if record.segment else None)

    def _end(self, record: EndRecord, now: float) -> Conversation:
        entry = self._conversation(record, now)
        del self._open[record.conversation_id]
        conversation = entry.conversation
        conversation.start_s = record.start_s
        conversation.end_s = record.end_s
        if record.problem is not None:
            conversation.problem = conversation.problem or record.problem
        starts = [segment.start_s for segment in conversation.segments]
        self._register(
            entry, record.start_s if record.start_s is not None else min(starts, default=None)
        )
        return conversation

    def _register(self, entry: _Open, start_s: float | None) -> None:
        customer = entry.context.get("customer_id")
        if customer is None or start_s is None:
            return
        if entry.registered_start is None or start_s < entry.registered_start:
            entry.registered_start = start_s
            self.repeats.register(customer, entry.conversation.conversation_id, start_s)

    def _expire(self, now: float) -> list[Conversation]:
        done = []
        idle = self.policy.idle_timeout_s
        while self._open:
            conversation_id, entry = next(iter(self._open.items()))
            if entry.last_seen > now - idle and len(self._open) <= self.max_open:
                break
            del self._open[conversation_id]
            entry.conversation.ended_by_timeout = True
            done.append(entry.conversation)
        return done

    def _finish(self, conversations: list[Conversation]) -> None:
        if not conversations:
            return
        for conversation in conversations:
            self._finished[conversation.conversation_id] = None
            while len(self._finished) > self.max_finished:
                self._finished.popitem(last=False)
        for summary, conversation in zip(
            analyze(conversations, self.policy, self.repeats), conversations, strict=True
        ):
            self.totals.add(summary, identified=conversation.customer_id is not None)
            self._pending.append(summary)
            if len(self._pending) > self._max_pending:
                self._pending.popleft()
                self.counters.summaries_dropped += 1
            if summary.flags:
                self._recent.append(summary)

    def expire(self) -> int:
        """Closes conversations idle for longer than timing.idleTimeout; returns how many."""
        with self._lock:
            done = self._expire(self.clock())
            self._finish(done)
        return len(done)

    # -- output --------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The /api/v1/conversations/summary document."""
        self.expire()
        with self._lock:
            overall = self.totals.overall
            return {
                "generatedAt": self.clock(),
                "policy": self.policy.name,
                "openConversations": len(self._open),
                "records": {
                    "segments": self.counters.segments,
                    "ends": self.counters.ends,
                    "rejected": self.counters.rejected,
                    "late": self.counters.late,
                    "droppedSegments": self.counters.dropped,
                    "droppedSummaries": self.counters.summaries_dropped,
                },
                "totals": documents.totals_document(overall),
                "slis": documents.slis_document(overall, self.policy),
                "groups": [
                    {**documents.dimensions_document(key), **documents.totals_document(group)}
                    for key, group in self.totals
                ],
                "recentFlagged": [documents.summary_document(s) for s in reversed(self._recent)],
            }

    def export_request(self, time_ns: int) -> bytes:
        """An ExportMetricsServiceRequest with every conversation metric (cumulative)."""
        self.expire()
        with self._lock:
            counters = {
                "segments": self.counters.segments,
                "ends": self.counters.ends,
                "rejected": self.counters.rejected,
                "late": self.counters.late,
                "dropped": self.counters.dropped,
            }
            return metrics.metrics_request(
                self.totals, self.policy, time_ns, self.started_ns, len(self._open), counters
            )

    def summaries_request(self, time_ns: int) -> bytes | None:
        """An ExportLogsServiceRequest with the summaries finished since the last call.

        None when there are none. Text in them is redacted as the policy says.
        """
        self.expire()
        with self._lock:
            if not self._pending:
                return None
            summaries = list(self._pending)
            self._pending.clear()
        return otlp.summaries_request(summaries, time_ns)

    def warm_up(self) -> None:
        """Compiles (or loads from numba's cache) the kernels before any client waits on them.

        Touches no state: a throwaway conversation goes through the analysis alone.
        """
        turns = [Segment(AGENT, 0.0, 2.0, "hello"), Segment(CUSTOMER, 1.5, 4.0, "hi", 0.1)]
        analyze([Conversation("warm-up", turns, start_s=0.0, end_s=5.0)], self.policy)

    def set_policy(self, policy: ConversationPolicy) -> None:
        """Applies a new policy to the conversations that finish from now on."""
        with self._lock:
            self.policy = policy
            self.repeats.window_s = policy.repeat_window_s
            self.repeats.retention_s = _retention(policy)

    @property
    def open_conversations(self) -> int:
        """Conversations in progress."""
        return len(self._open)


def _retention(policy: ConversationPolicy) -> float:
    """A conversation is judged at most this long after it started (see RepeatContacts)."""
    return policy.repeat_window_s + policy.max_duration_s + policy.idle_timeout_s


def _merge(entry: _Open, context: Context) -> None:
    """Keeps the latest non-empty team, queue, agent and customer id seen for a conversation."""
    for name in ("team", "queue", "agent", "customer_id"):
        value = getattr(context, name)
        if value:
            entry.context[name] = value
    conversation = entry.conversation
    conversation.dimensions = Dimensions(
        team=entry.context.get("team", UNKNOWN),
        queue=entry.context.get("queue", UNKNOWN),
        agent=entry.context.get("agent", UNKNOWN),
    )
    conversation.customer_id = entry.context.get("customer_id")
