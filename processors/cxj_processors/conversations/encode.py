"""Conversations as the OTLP log records the analyzer reads (for producers, demos and tests).

The inverse of decode.py: one cx.conversation.segment record per turn (text in the body),
then one cx.conversation.end record carrying the bounds, team, queue, agent and customer.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2

from cxj_processors.conversations import model
from cxj_processors.conversations.model import ROLES, Conversation
from cxj_processors.conversations.otlp import Value, key_values


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def conversation_records(
    conversation: Conversation, *, with_end: bool = True
) -> list[logs_pb2.LogRecord]:
    """The conversation's segment records in order of start, then (optionally) its end record."""
    context: dict[str, Value] = {
        model.CONVERSATION_ID: conversation.conversation_id,
        model.TEAM: conversation.dimensions.team,
        model.QUEUE: conversation.dimensions.queue,
        model.AGENT_ID: conversation.dimensions.agent,
    }
    if conversation.customer_id:
        context[model.CUSTOMER_ID] = conversation.customer_id
    records = []
    for segment in sorted(conversation.segments, key=lambda s: s.start_s):
        attributes: dict[str, Value] = {
            **context,
            model.ROLE: ROLES[segment.role],
            model.SEGMENT_START: _ns(segment.start_s),
            model.SEGMENT_END: _ns(segment.end_s),
        }
        if not math.isnan(segment.sentiment):
            attributes[model.SENTIMENT] = segment.sentiment
        record = logs_pb2.LogRecord(
            time_unix_nano=_ns(segment.start_s),
            event_name=model.EVENT_SEGMENT,
            severity_number=logs_pb2.SEVERITY_NUMBER_INFO,
        )
        if segment.text is not None:
            record.body.CopyFrom(common_pb2.AnyValue(string_value=segment.text))
        record.attributes.extend(key_values(attributes))
        records.append(record)
    if with_end:
        attributes = dict(context)
        if conversation.start_s is not None:
            attributes[model.CONVERSATION_START] = _ns(conversation.start_s)
        if conversation.end_s is not None:
            attributes[model.CONVERSATION_END] = _ns(conversation.end_s)
        end = logs_pb2.LogRecord(
            time_unix_nano=_ns(conversation.end_s or 0.0),
            event_name=model.EVENT_END,
            severity_number=logs_pb2.SEVERITY_NUMBER_INFO,
        )
        end.attributes.extend(key_values(attributes))
        records.append(end)
    return records


def logs_request(records: Iterable[logs_pb2.LogRecord], service: str = "contact-center") -> bytes:
    """One ExportLogsServiceRequest holding the records, serialized."""
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(key_values({"service.name": service}))
    scope = resource_logs.scope_logs.add()
    scope.scope.name = "cxjourney.conversations.producer"
    scope.log_records.extend(records)
    data: bytes = request.SerializeToString()
    return data


def interleaved(
    conversations: Sequence[Conversation], *, with_end: bool = True
) -> list[logs_pb2.LogRecord]:
    """Every conversation's records merged in time order, as a live stream would carry them.

    Each record goes out when its turn ends (end records at the conversation's end), so
    conversations overlap in the stream as they do on a contact center's floor.
    """
    timed: list[tuple[float, int, int, logs_pb2.LogRecord]] = []
    for number, conversation in enumerate(conversations):
        records = conversation_records(conversation, with_end=with_end)
        turns = sorted(conversation.segments, key=lambda s: s.start_s)
        for index, record in enumerate(records):
            at = turns[index].end_s if index < len(turns) else (conversation.end_s or 0.0)
            timed.append((at, number, index, record))
    timed.sort(key=lambda item: (item[0], item[1], item[2]))
    return [record for *_, record in timed]


def batches(
    records: Sequence[logs_pb2.LogRecord], size: int, *, shuffle_seed: int | None = None
) -> Iterator[bytes]:
    """Requests of at most `size` records; with a seed, the records are shuffled first."""
    ordered = list(records)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(ordered)
    for first in range(0, len(ordered), size):
        yield logs_request(ordered[first : first + size])
