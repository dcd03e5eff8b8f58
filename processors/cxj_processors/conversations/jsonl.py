"""The JSON-lines conversation format: one segment or end record per line.

    {"type": "segment", "conversation": "c-1", "role": "agent", "start": 12.0, "end": 15.5,
     "text": "...", "sentiment": 0.2}
    {"type": "end", "conversation": "c-1", "start": 0, "end": 182.4,
     "team": "north", "queue": "billing", "agent": "a-17", "customer": "cust-9"}

Times are seconds on one clock (Unix seconds make repeat contacts work across files) or
RFC 3339 strings. team, queue, agent and customer may sit on any record of the
conversation; the latest wins. A line that names its conversation but is wrong makes that
conversation's problem (it is reported, not analysed); a line that cannot be attributed is a
problem of the file. Records of one conversation may be spread over several files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cxj_processors.conversations.model import (
    ERROR_MALFORMED,
    ERROR_MISSING_END,
    ERROR_UNKNOWN_ROLE,
    ROLE_CODES,
    UNKNOWN,
    Conversation,
    ConversationProblem,
    Dimensions,
    Segment,
)


@dataclass(frozen=True)
class SourceProblem:
    """A line or file that belongs to no conversation and could not be read."""

    source: str
    line: int  # 0 when the whole file is meant
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.source}:{self.line}: {self.reason}"
            if self.line
            else f"{self.source}: {self.reason}"
        )


class BadValue(ValueError):
    """A field of a record that is not what the format says, with the problem code it makes."""

    def __init__(self, reason: str, code: str = ERROR_MALFORMED) -> None:
        super().__init__(reason)
        self.code = code


def parse_time(value: Any, name: str) -> float:
    """Seconds from a number or an RFC 3339 timestamp.

    Raises:
        BadValue: naming the field, for anything else.
    """
    if isinstance(value, bool):
        raise BadValue(f"{name} must be seconds or an RFC 3339 time, got {value!r}")
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise BadValue(f"{name} must be seconds or an RFC 3339 time, got {value!r}")


@dataclass
class _Pending:
    conversation: Conversation
    context: dict[str, str] = field(default_factory=dict)
    ended: bool = False


class JsonlReader:
    """Assembles conversations from JSON-lines files; call read() per file, then finish()."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self.problems: list[SourceProblem] = []

    def read(self, lines: Iterable[str], source: str) -> None:
        """Reads every line of one file."""
        for number, line in enumerate(lines, start=1):
            if line.strip():
                self._line(line, source, number)

    def _line(self, line: str, source: str, number: int) -> None:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            self.problems.append(SourceProblem(source, number, f"not JSON: {error.msg}"))
            return
        conversation_id = record.get("conversation") if isinstance(record, dict) else None
        if not isinstance(conversation_id, str) or not conversation_id:
            self.problems.append(
                SourceProblem(source, number, 'a record needs "conversation": a non-empty string')
            )
            return
        pending = self._pending.setdefault(conversation_id, _Pending(Conversation(conversation_id)))
        try:
            self._record(pending, record)
        except BadValue as error:
            self._fail(pending, error.code, f"{source}:{number}: {error}")

    @staticmethod
    def _fail(pending: _Pending, code: str, reason: str) -> None:
        if pending.conversation.problem is None:
            pending.conversation.problem = ConversationProblem(code, reason)

    def _record(self, pending: _Pending, record: dict[str, Any]) -> None:
        for key in ("team", "queue", "agent", "customer"):
            value = record.get(key)
            if value is not None and not isinstance(value, str):
                raise BadValue(f"{key} must be a string, got {value!r}")
            if value:
                pending.context[key] = value
        kind = record.get("type")
        if kind == "segment":
            pending.conversation.segments.append(_segment(record))
        elif kind == "end":
            if pending.ended:
                raise BadValue("a second end record for the conversation")
            pending.ended = True
            if "end" not in record:
                raise BadValue('an end record needs "end"')
            pending.conversation.end_s = parse_time(record["end"], "end")
            if record.get("start") is not None:
                pending.conversation.start_s = parse_time(record["start"], "start")
        else:
            raise BadValue(f'"type" must be segment or end, got {kind!r}')

    def finish(self) -> list[Conversation]:
        """The conversations read, in order of first appearance."""
        out = []
        for pending in self._pending.values():
            conversation = pending.conversation
            context = pending.context
            conversation.dimensions = Dimensions(
                context.get("team", UNKNOWN),
                context.get("queue", UNKNOWN),
                context.get("agent", UNKNOWN),
            )
            conversation.customer_id = context.get("customer")
            if not pending.ended:
                self._fail(pending, ERROR_MISSING_END, "no end record for the conversation")
            out.append(conversation)
        return out


def _segment(record: dict[str, Any]) -> Segment:
    role = record.get("role")
    if not isinstance(role, str) or role not in ROLE_CODES:
        raise BadValue(f"role {role!r} is not one of agent, customer, bot", ERROR_UNKNOWN_ROLE)
    if "start" not in record:
        raise BadValue('a segment needs "start"')
    if record.get("end") is None:
        raise BadValue('a segment needs "end"', ERROR_MISSING_END)
    text = record.get("text")
    if text is not None and not isinstance(text, str):
        raise BadValue(f"text must be a string, got {type(text).__name__}")
    sentiment = record.get("sentiment")
    if sentiment is None:
        value = math.nan
    elif (
        isinstance(sentiment, int | float)
        and not isinstance(sentiment, bool)
        and -1 <= sentiment <= 1
    ):
        value = float(sentiment)
    else:
        raise BadValue(f"sentiment must be a number from -1 to 1, got {sentiment!r}")
    return Segment(
        ROLE_CODES[role],
        parse_time(record["start"], "start"),
        parse_time(record["end"], "end"),
        text,
        value,
    )


def segment_line(conversation_id: str, segment: Segment, role: str) -> str:
    """One segment as a JSON line (used by the generator's writers and tests)."""
    record: dict[str, Any] = {
        "type": "segment",
        "conversation": conversation_id,
        "role": role,
        "start": segment.start_s,
        "end": segment.end_s,
    }
    if segment.text is not None:
        record["text"] = segment.text
    if not math.isnan(segment.sentiment):
        record["sentiment"] = segment.sentiment
    return json.dumps(record)


def end_line(conversation: Conversation) -> str:
    """A conversation's end record as a JSON line."""
    record: dict[str, Any] = {
        "type": "end",
        "conversation": conversation.conversation_id,
        "start": conversation.start_s,
        "end": conversation.end_s,
        "team": conversation.dimensions.team,
        "queue": conversation.dimensions.queue,
        "agent": conversation.dimensions.agent,
    }
    if conversation.customer_id:
        record["customer"] = conversation.customer_id
    return json.dumps(record)
