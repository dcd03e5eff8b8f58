"""OTLP logs → conversation records: segment and end-of-conversation events, typed.

Logs are far lower volume than spans, so this uses the protobuf library. A record that is
not a conversation event is ignored (the logs endpoint carries every log). A conversation
event without a conversation id cannot be attributed and is rejected; any other defect
(unknown role, missing end, wrong attribute type) travels with the record as the problem of
its conversation, which is then reported instead of analysed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import message as protobuf_message  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from cxj_processors.conversations import model
from cxj_processors.conversations.model import ConversationProblem, Segment

# Text beyond this is not read (a turn is seconds of speech, not a document).
MAX_TEXT_CHARS = 4000


class MalformedLogs(ValueError):
    """An OTLP logs payload that is not a valid ExportLogsServiceRequest."""


@dataclass(frozen=True)
class Context:
    """Attributes every record may carry (on itself or on its resource)."""

    team: str | None = None
    queue: str | None = None
    agent: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True)
class SegmentRecord:
    """One cx.conversation.segment event."""

    conversation_id: str
    context: Context
    segment: Segment | None  # None when the record's problem made it unusable
    problem: ConversationProblem | None = None


@dataclass(frozen=True)
class EndRecord:
    """One cx.conversation.end event."""

    conversation_id: str
    context: Context
    start_s: float | None
    end_s: float | None
    problem: ConversationProblem | None = None


@dataclass
class DecodedLogs:
    """The conversation events of one request, and what was left aside."""

    records: list[SegmentRecord | EndRecord] = field(default_factory=list)
    ignored: int = 0
    rejected: int = 0
    rejected_reason: str = ""


def decode_logs(payload: bytes) -> DecodedLogs:
    """Decodes an ExportLogsServiceRequest into conversation records, in arrival order.

    Raises:
        MalformedLogs: when the payload is not valid protobuf.
    """
    try:
        request = logs_service_pb2.ExportLogsServiceRequest.FromString(payload)
    except protobuf_message.DecodeError as error:
        raise MalformedLogs(f"not an OTLP ExportLogsServiceRequest: {error}") from error
    decoded = DecodedLogs()
    for resource_logs in request.resource_logs:
        shared = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                _decode_record(record, shared, decoded)
    return decoded


def _decode_record(record: Any, shared: dict[str, Any], decoded: DecodedLogs) -> None:
    attributes = {**shared, **_attributes(record.attributes)}
    event = record.event_name or attributes.get("event.name")
    if event not in (model.EVENT_SEGMENT, model.EVENT_END):
        decoded.ignored += 1
        return
    conversation_id = attributes.get(model.CONVERSATION_ID)
    if not isinstance(conversation_id, str) or not conversation_id:
        decoded.rejected += 1
        decoded.rejected_reason = (
            f"{event} record without a string {model.CONVERSATION_ID}; it cannot be attributed"
        )
        return
    context = Context(
        team=_text(attributes.get(model.TEAM)),
        queue=_text(attributes.get(model.QUEUE)),
        agent=_text(attributes.get(model.AGENT_ID)),
        customer_id=_text(attributes.get(model.CUSTOMER_ID)),
    )
    if event == model.EVENT_END:
        decoded.records.append(_end(conversation_id, context, record, attributes))
    else:
        decoded.records.append(_segment(conversation_id, context, record, attributes))


def _end(
    conversation_id: str, context: Context, record: Any, attributes: dict[str, Any]
) -> EndRecord:
    try:
        start = _time(attributes, model.CONVERSATION_START, required=False)
        end = _time(attributes, model.CONVERSATION_END, required=False)
    except _BadValue as error:
        return EndRecord(conversation_id, context, None, None, error.problem)
    if end is None and record.time_unix_nano:
        end = record.time_unix_nano / 1e9
    if end is None:
        problem = ConversationProblem(
            model.ERROR_MISSING_END,
            f"the end record has neither {model.CONVERSATION_END} nor a timestamp",
        )
        return EndRecord(conversation_id, context, start, None, problem)
    return EndRecord(conversation_id, context, start, end)


def _segment(
    conversation_id: str, context: Context, record: Any, attributes: dict[str, Any]
) -> SegmentRecord:
    role_name = attributes.get(model.ROLE)
    role = model.ROLE_CODES.get(role_name) if isinstance(role_name, str) else None
    if role is None:
        problem = ConversationProblem(
            model.ERROR_UNKNOWN_ROLE,
            f"{model.ROLE} {role_name!r} is not one of agent, customer, bot",
        )
        return SegmentRecord(conversation_id, context, None, problem)
    try:
        start = _time(attributes, model.SEGMENT_START, required=False)
        if start is None and record.time_unix_nano:
            start = record.time_unix_nano / 1e9
        end = _time(attributes, model.SEGMENT_END, required=True, role=str(role_name))
        sentiment = _sentiment(attributes.get(model.SENTIMENT))
    except _BadValue as error:
        return SegmentRecord(conversation_id, context, None, error.problem)
    if start is None:
        problem = ConversationProblem(
            model.ERROR_MALFORMED,
            f"a {role_name} segment has neither {model.SEGMENT_START} nor a timestamp",
        )
        return SegmentRecord(conversation_id, context, None, problem)
    assert end is not None  # required=True
    text = record.body.string_value if record.body.WhichOneof("value") == "string_value" else None
    segment = Segment(role, start, end, text[:MAX_TEXT_CHARS] if text else None, sentiment)
    return SegmentRecord(conversation_id, context, segment)


class _BadValue(Exception):
    def __init__(self, problem: ConversationProblem) -> None:
        super().__init__(problem.reason)
        self.problem = problem


def _time(attributes: dict[str, Any], key: str, *, required: bool, role: str = "") -> float | None:
    value = attributes.get(key)
    if value is None:
        if required:
            raise _BadValue(
                ConversationProblem(model.ERROR_MISSING_END, f"a {role} segment has no {key}")
            )
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _BadValue(
            ConversationProblem(
                model.ERROR_MALFORMED,
                f"{key} must be an int (Unix nanoseconds), got {type(value).__name__} {value!r}",
            )
        )
    return value / 1e9


def _sentiment(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not -1 <= value <= 1:
        raise _BadValue(
            ConversationProblem(
                model.ERROR_MALFORMED,
                f"{model.SENTIMENT} must be a number from -1 to 1, got {value!r}",
            )
        )
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return value  # never a conversation attribute; kept only to be ignored
    return getattr(value, kind)
