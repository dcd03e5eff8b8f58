"""Conversation totals as an OTLP ExportMetricsServiceRequest (pure: totals in, bytes out).

Every name is documented in docs/conversations.md. Attributes are team, queue and agent plus
small closed sets (role, trigger, disclosure rule, error code): never a conversation or
customer id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from cxj_journey import __version__
from cxj_processors.conversations import model
from cxj_processors.conversations.model import ROLES
from cxj_processors.conversations.otlp import (
    SCOPE,
    Value,
    group_attributes,
    key_values,
    resource_attributes,
)
from cxj_processors.conversations.policy import ConversationPolicy
from cxj_processors.conversations.totals import GroupTotals, Totals


class _Metrics:
    def __init__(self, time_ns: int, start_ns: int) -> None:
        self.time_ns = time_ns
        self.start_ns = start_ns
        self.metrics: dict[str, metrics_pb2.Metric] = {}

    def _metric(self, name: str, unit: str, description: str) -> metrics_pb2.Metric:
        metric = self.metrics.get(name)
        if metric is None:
            metric = metrics_pb2.Metric(name=name, unit=unit, description=description)
            self.metrics[name] = metric
        return metric

    def total(
        self, name: str, unit: str, description: str, value: float, attributes: Mapping[str, Value]
    ) -> None:
        metric = self._metric(name, unit, description)
        metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        metric.sum.is_monotonic = True
        point = metric.sum.data_points.add(
            start_time_unix_nano=self.start_ns, time_unix_nano=self.time_ns
        )
        if isinstance(value, int):
            point.as_int = value
        else:
            point.as_double = value
        point.attributes.extend(key_values(attributes))

    def gauge(
        self, name: str, unit: str, description: str, value: float, attributes: Mapping[str, Value]
    ) -> None:
        if math.isnan(value):
            return  # unknown is absent, never a fabricated default
        metric = self._metric(name, unit, description)
        point = metric.gauge.data_points.add(time_unix_nano=self.time_ns, as_double=value)
        point.attributes.extend(key_values(attributes))


def _group_metrics(b: _Metrics, group: GroupTotals, attributes: dict[str, Value]) -> None:
    conv = "{conversation}"
    b.total(
        "cx.conversation.count", conv, "Conversations analysed", group.conversations, attributes
    )
    for code, count in sorted(group.rejected.items()):
        b.total(
            "cx.conversation.rejected",
            conv,
            "Conversations not analysed because their input is invalid",
            count,
            {**attributes, "cx.conversation.error": code},
        )
    if not group.conversations:
        return
    b.total(
        "cx.conversation.duration", "s", "Total conversation time", group.duration_s, attributes
    )
    for role, seconds in zip(ROLES, group.talk_s, strict=True):
        b.total(
            "cx.conversation.talk.duration",
            "s",
            "Time each role speaks",
            seconds,
            {**attributes, model.ROLE: role},
        )
    b.total(
        "cx.conversation.nontalk.duration", "s", "Time nobody speaks", group.nontalk_s, attributes
    )
    b.total(
        "cx.conversation.silence.events",
        "{event}",
        "Stretches of non-talk longer than the silence threshold",
        group.silence_events,
        attributes,
    )
    for (interrupter, interrupted), count in sorted(group.talkover_by.items()):
        b.total(
            "cx.conversation.talkover.events",
            "{event}",
            "Turns started while another party was speaking",
            count,
            {
                **attributes,
                "cx.conversation.interrupter": ROLES[interrupter],
                "cx.conversation.interrupted": ROLES[interrupted],
            },
        )
    b.total(
        "cx.conversation.talkover.duration",
        "s",
        "Overlapping speech (speaker-seconds beyond one speaker)",
        group.overlap_s,
        attributes,
    )
    b.total(
        "cx.conversation.frustrated",
        conv,
        "Conversations with frustration",
        group.frustrated,
        attributes,
    )
    b.total(
        "cx.conversation.escalated",
        conv,
        "Conversations with an escalation trigger",
        group.escalated,
        attributes,
    )
    for trigger, count in sorted(group.escalations_by_trigger.items()):
        b.total(
            "cx.conversation.escalation.triggers",
            conv,
            "Conversations per escalation trigger",
            count,
            {**attributes, "cx.conversation.escalation.trigger": trigger},
        )
    b.total(
        "cx.conversation.transfers", conv, "Bot-to-human transfers", group.transfers, attributes
    )
    b.total(
        "cx.conversation.transfers.slow",
        conv,
        "Bot-to-human transfers that waited longer than transfer.maxWait",
        group.slow_transfers,
        attributes,
    )
    b.total(
        "cx.conversation.transfer.wait",
        "s",
        "Total wait of bot-to-human transfers",
        group.transfer_wait_s,
        attributes,
    )
    for (rule, met), count in sorted(group.disclosures.items()):
        b.total(
            "cx.conversation.disclosures",
            conv,
            "Conversations judged per disclosure rule, by outcome",
            count,
            {
                **attributes,
                "cx.conversation.disclosure": rule,
                "cx.conversation.disclosure.outcome": "met" if met else "missed",
            },
        )
    b.total(
        "cx.conversation.identified",
        conv,
        "Conversations with a customer id",
        group.with_customer,
        attributes,
    )
    b.total(
        "cx.conversation.repeat_contacts",
        conv,
        "Conversations that are repeat contacts of their customer",
        group.repeat_contacts,
        attributes,
    )
    b.total(
        "cx.conversation.empathy.phrases",
        "{phrase}",
        "Empathy phrases said by agents",
        group.empathy_phrases,
        attributes,
    )
    rates = group.rates()
    for name, unit, key, description in _RATES:
        b.gauge(name, unit, description, rates[key], attributes)


_RATES = (
    ("cx.conversation.silence.ratio", "1", "silenceRatio", "Non-talk time over conversation time"),
    (
        "cx.conversation.talkover.rate",
        "{event}/min",
        "talkOverRate",
        "Talk-over events per minute of conversation",
    ),
    ("cx.conversation.escalation.rate", "1", "escalationRate", "Share of conversations escalated"),
    (
        "cx.conversation.disclosure.adherence",
        "1",
        "disclosureAdherence",
        "Share of required disclosures made in time",
    ),
    (
        "cx.conversation.frustration.rate",
        "1",
        "frustrationRate",
        "Share of conversations with frustration",
    ),
    (
        "cx.conversation.repeat_contact.rate",
        "1",
        "repeatContactRate",
        "Share of identified conversations that are repeat contacts",
    ),
)


def metrics_request(  # noqa: PLR0917 - everything one export carries
    totals: Totals,
    policy: ConversationPolicy,
    time_ns: int,
    start_ns: int,
    open_conversations: int,
    counters: Mapping[str, int],
) -> bytes:
    """The ExportMetricsServiceRequest with every conversation metric, serialized."""
    b = _Metrics(time_ns, start_ns)
    for dimensions, group in totals:
        _group_metrics(b, group, group_attributes(dimensions))
    for sli, objective in (
        ("frustration_free", policy.frustration_free_objective),
        ("first_contact_resolution", policy.first_contact_objective),
    ):
        b.gauge(
            "cx.conversation.sli.objective",
            "1",
            "Objective of a conversation SLI",
            objective,
            {"cx.sli": sli},
        )
    b.gauge(
        "cx.conversation.open",
        "{conversation}",
        "Conversations in progress",
        float(open_conversations),
        {},
    )
    for name, value in counters.items():
        b.total(f"cx.conversation.records.{name}", "{record}", _COUNTER_HELP[name], value, {})
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(resource_attributes())
    scope = resource_metrics.scope_metrics.add()
    scope.scope.name = SCOPE
    scope.scope.version = __version__
    scope.metrics.extend(b.metrics.values())
    data: bytes = request.SerializeToString()
    return data


_COUNTER_HELP = {
    "segments": "Conversation segment records accepted",
    "ends": "End-of-conversation records accepted",
    "rejected": "Conversation records without a conversation id",
    "late": "Records of conversations that had already ended",
    "dropped": "Segments beyond the per-conversation limit",
}
