"""Per-conversation summary log records as OTLP, and the attribute helpers metrics share.

Pure: summaries in, serialized request out. A summary names its conversation (metrics never
do) but never its customer; its text is only the excerpts the policy allows, already
redacted. Every attribute is documented in docs/conversations.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from cxj_journey import __version__
from cxj_processors.conversations import model
from cxj_processors.conversations.model import ROLES, ConversationSummary, Dimensions
from cxj_processors.conversations.totals import OVERFLOW

Value = str | float | int | bool | Sequence[str]
SCOPE = "cxjourney.conversations"
SEVERITY_INFO = logs_pb2.SEVERITY_NUMBER_INFO
SEVERITY_WARN = logs_pb2.SEVERITY_NUMBER_WARN
# A summary is a warning when it carries a flag other than these.
_INFORMATIVE_FLAGS = frozenset({"bot-transfer"})


def any_value(value: Value) -> common_pb2.AnyValue:
    """An AnyValue of the matching type (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    items = [common_pb2.AnyValue(string_value=item) for item in value]
    return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=items))


def key_values(values: Mapping[str, Value]) -> list[common_pb2.KeyValue]:
    """KeyValues in the mapping's order; NaN numbers are left out (unknown is absent)."""
    return [
        common_pb2.KeyValue(key=key, value=any_value(value))
        for key, value in values.items()
        if not (isinstance(value, float) and math.isnan(value))
    ]


def group_attributes(dimensions: Dimensions) -> dict[str, Value]:
    """The metric attributes of one group."""
    if dimensions == OVERFLOW:
        return {"otel.metric.overflow": True}
    return {
        model.TEAM: dimensions.team,
        model.QUEUE: dimensions.queue,
        model.AGENT_ID: dimensions.agent,
    }


def resource_attributes() -> list[common_pb2.KeyValue]:
    """The resource of everything the processor exports about conversations."""
    return key_values({"service.name": "cxj-processor", "service.version": __version__})


def summary_attributes(summary: ConversationSummary) -> dict[str, Value]:
    """The attributes of one summary log record (ids belong here, never on metrics)."""
    attributes: dict[str, Value] = {
        model.CONVERSATION_ID: summary.conversation_id,
        model.TEAM: summary.dimensions.team,
        model.QUEUE: summary.dimensions.queue,
        model.AGENT_ID: summary.dimensions.agent,
        "cx.conversation.duration": summary.duration_s,
        "cx.conversation.flags": list(summary.flags),
    }
    if summary.problem is not None:
        attributes["cx.conversation.error"] = summary.problem.code
        attributes["cx.conversation.error.reason"] = summary.problem.reason
        return attributes
    for role, seconds in zip(ROLES, summary.talk_s, strict=True):
        attributes[f"cx.conversation.talk.{role}"] = seconds
    attributes.update(
        {
            "cx.conversation.nontalk.ratio": summary.nontalk_ratio,
            "cx.conversation.silence.events": summary.silence_events,
            "cx.conversation.silence.longest": summary.longest_silence_s,
            "cx.conversation.talkover.events": summary.talkover_events,
            "cx.conversation.talkover.duration": summary.overlap_s,
            "cx.conversation.frustrated": summary.frustrated,
            "cx.conversation.escalated": summary.escalated,
            "cx.conversation.escalation.triggers": list(summary.escalation_triggers),
            "cx.conversation.transfer.wait": summary.transfer_wait_s,
            "cx.conversation.disclosures.missed": sorted(
                name for name, met in summary.disclosures.items() if not met
            ),
            "cx.conversation.repeat_contact": summary.repeat_contact,
        }
    )
    for role, wpm in zip(ROLES, summary.words_per_minute, strict=True):
        attributes[f"cx.conversation.words_per_minute.{role}"] = wpm
    return attributes


def summary_body(summary: ConversationSummary) -> str:
    """A line a reviewer can read, then the excerpts the policy allows (already redacted)."""
    flags = ", ".join(summary.flags) or "no flags"
    lines = [f"conversation {summary.conversation_id} ({summary.duration_s:.1f} s): {flags}"]
    if summary.problem is not None:
        lines.append(f"not analysed: {summary.problem.reason}")
    lines.extend(f"{e.at_s:.1f} s {e.role} [{e.label}]: {e.text}" for e in summary.excerpts)
    return "\n".join(lines)


def summaries_request(summaries: Iterable[ConversationSummary], time_ns: int) -> bytes:
    """The ExportLogsServiceRequest with one cx.conversation.summary record per conversation."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(resource_attributes())
    scope = resource_logs.scope_logs.add()
    scope.scope.name = SCOPE
    scope.scope.version = __version__
    for summary in summaries:
        end_ns = summary.end_s * 1e9
        warn = bool(set(summary.flags) - _INFORMATIVE_FLAGS)
        record = scope.log_records.add(
            time_unix_nano=int(end_ns) if math.isfinite(end_ns) and end_ns > 0 else time_ns,
            observed_time_unix_nano=time_ns,
            severity_number=SEVERITY_WARN if warn else SEVERITY_INFO,
            severity_text="WARN" if warn else "INFO",
            event_name=model.EVENT_SUMMARY,
            body=common_pb2.AnyValue(string_value=summary_body(summary)),
        )
        record.attributes.extend(key_values(summary_attributes(summary)))
    data: bytes = request.SerializeToString()
    return data
