"""Conversations end to end over OTLP logs: the analyzer, the processor service, the collector.

Synthetic conversations with known ground truth (cxj_processors.conversations.generator)
are encoded as OTLP log records with the protobuf library and driven in as a live stream
would carry them; what comes out (summary log records, metrics, the status API) is checked
against the ground truth.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from tests.harness.otelcol import Collector
from tests.harness.processes import free_port

from cxj_processors.config import ProcessorConfig
from cxj_processors.conversations import encode
from cxj_processors.conversations.analyzer import ConversationAnalyzer
from cxj_processors.conversations.command import add_conversations_parser
from cxj_processors.conversations.decode import MalformedLogs
from cxj_processors.conversations.generator import GeneratorOptions, SyntheticConversation, generate
from cxj_processors.conversations.jsonl import end_line, segment_line
from cxj_processors.conversations.model import ROLES, Conversation, Segment
from cxj_processors.conversations.policy import default_policy
from cxj_processors.service import ProcessorService

POLICY = default_policy()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def attributes(pairs: Any) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        kind = pair.value.WhichOneof("value")
        value = getattr(pair.value, kind)
        out[pair.key] = (
            list(v.string_value for v in value.values) if kind == "array_value" else value
        )
    return out


def summary_records(payload: bytes | None) -> dict[str, dict[str, Any]]:
    assert payload is not None
    request = logs_service_pb2.ExportLogsServiceRequest.FromString(payload)
    records = [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert {r.event_name for r in records} == {"cx.conversation.summary"}
    return {
        (a := attributes(r.attributes))["cx.conversation.id"]: {**a, "body": r.body.string_value}
        for r in records
    }


def metric_points(payload: bytes) -> dict[str, list[tuple[dict[str, Any], float]]]:
    request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(payload)
    found: dict[str, list[tuple[dict[str, Any], float]]] = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                kind = metric.WhichOneof("data")
                for point in getattr(metric, kind).data_points:
                    value = (
                        point.as_int if point.WhichOneof("value") == "as_int" else point.as_double
                    )
                    found.setdefault(metric.name, []).append((attributes(point.attributes), value))
    return found


def expected_flags(item: SyntheticConversation) -> set[str]:
    t = item.truth
    flags = {
        "long-silence": t.silence_events > 0,
        "talk-over": t.talkover_events > 0,
        "frustrated": t.frustrated,
        "rising-negativity": t.rising_negativity,
        "escalated": t.escalated,
        "supervisor-request": t.supervisor_requests > 0,
        "bot-transfer": t.bot_transfer,
        "slow-transfer": t.slow_transfer,
        "disclosure-missed": not t.disclosure_met,
        "repeat-contact": t.repeat_contact,
    }
    return {flag for flag, raised in flags.items() if raised}


@pytest.fixture(scope="module")
def made() -> list[SyntheticConversation]:
    return generate(GeneratorOptions(conversations=120, seed=7, customers=60), POLICY)


def stream(made: list[SyntheticConversation], size: int = 250) -> list[bytes]:
    return list(encode.batches(encode.interleaved([m.conversation for m in made]), size))


# -- the analyzer, fed OTLP logs ------------------------------------------------------------------
def test_a_live_stream_gives_the_ground_truth(made: list[SyntheticConversation]) -> None:
    analyzer = ConversationAnalyzer(POLICY)
    results = [analyzer.accept_logs(payload) for payload in stream(made)]
    assert sum(r.ends for r in results) == len(made)
    assert sum(r.rejected + r.late for r in results) == 0
    assert analyzer.open_conversations == 0
    summaries = summary_records(analyzer.summaries_request(time.time_ns()))
    assert len(summaries) == len(made)
    for item in made:
        summary = summaries[item.conversation.conversation_id]
        assert set(summary["cx.conversation.flags"]) == expected_flags(item), (
            item.conversation.conversation_id
        )
        assert summary["cx.conversation.duration"] == pytest.approx(item.truth.duration_s, abs=1e-6)
        assert summary["cx.conversation.silence.events"] == item.truth.silence_events
        assert summary["cx.conversation.talkover.events"] == item.truth.talkover_events
        assert summary["cx.conversation.team"] == item.conversation.dimensions.team
    assert analyzer.summaries_request(time.time_ns()) is None  # each summary goes out once


def test_metrics_by_group_never_carry_a_conversation_id(made: list[SyntheticConversation]) -> None:
    analyzer = ConversationAnalyzer(POLICY)
    for payload in stream(made):
        analyzer.accept_logs(payload)
    points = metric_points(analyzer.export_request(time.time_ns()))
    allowed = {
        "cx.conversation.team", "cx.conversation.queue", "cx.conversation.agent",
        "cx.conversation.role", "cx.conversation.interrupter", "cx.conversation.interrupted",
        "cx.conversation.escalation.trigger", "cx.conversation.disclosure",
        "cx.conversation.disclosure.outcome", "cx.conversation.error", "cx.sli",
    }  # fmt: skip
    for name, series in points.items():
        for labels, _ in series:
            assert set(labels) <= allowed, (name, labels)
    assert sum(v for _, v in points["cx.conversation.count"]) == len(made)
    frustrated = sum(v for _, v in points["cx.conversation.frustrated"])
    assert frustrated == sum(m.truth.frustrated for m in made)
    escalated = sum(v for _, v in points["cx.conversation.escalated"])
    assert escalated == sum(m.truth.escalated for m in made)
    by_group: Counter[tuple[str, str, str]] = Counter(
        (
            m.conversation.dimensions.team,
            m.conversation.dimensions.queue,
            m.conversation.dimensions.agent,
        )
        for m in made
        if m.truth.frustrated
    )
    for labels, rate in points["cx.conversation.frustration.rate"]:
        group = (
            labels["cx.conversation.team"],
            labels["cx.conversation.queue"],
            labels["cx.conversation.agent"],
        )
        size = sum(
            1
            for m in made
            if (
                m.conversation.dimensions.team,
                m.conversation.dimensions.queue,
                m.conversation.dimensions.agent,
            )
            == group
        )
        assert rate == pytest.approx(by_group[group] / size)
    missed = sum(
        v
        for labels, v in points["cx.conversation.disclosures"]
        if labels["cx.conversation.disclosure.outcome"] == "missed"
    )
    assert missed == sum(not m.truth.disclosure_met for m in made)
    objectives = {labels["cx.sli"]: v for labels, v in points["cx.conversation.sli.objective"]}
    assert objectives == {"frustration_free": 0.95, "first_contact_resolution": 0.9}


def test_record_order_within_a_request_changes_nothing(made: list[SyntheticConversation]) -> None:
    records = encode.interleaved([m.conversation for m in made[:30]])
    verdicts = []
    for seed in (None, 1, 2):
        analyzer = ConversationAnalyzer(POLICY)
        (payload,) = encode.batches(records, len(records), shuffle_seed=seed)
        analyzer.accept_logs(payload)
        summaries = summary_records(analyzer.summaries_request(1))
        verdicts.append({k: {**v, "body": ""} for k, v in summaries.items()})
    assert verdicts[0] == verdicts[1] == verdicts[2]


def test_other_logs_are_ignored_and_unattributable_records_rejected() -> None:
    analyzer = ConversationAnalyzer(POLICY)
    app_log = logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value="GET /healthz 200"))
    orphan = logs_pb2.LogRecord(event_name="cx.conversation.segment")
    result = analyzer.accept_logs(encode.logs_request([app_log, orphan]))
    assert (result.ignored, result.rejected) == (1, 1)
    assert "without a string cx.conversation.id" in result.message


def test_malformed_protobuf_is_refused_and_nothing_is_kept(
    made: list[SyntheticConversation],
) -> None:
    analyzer = ConversationAnalyzer(POLICY)
    with pytest.raises(ValueError, match="not an OTLP ExportLogsServiceRequest") as refused:
        analyzer.accept_logs(b"\x0a\xff\xff\xff\xff\x0f")
    assert isinstance(refused.value, MalformedLogs)
    assert analyzer.summary()["records"]["segments"] == 0


def test_conversations_without_an_end_record_end_after_the_idle_timeout(
    made: list[SyntheticConversation],
) -> None:
    clock = Clock(1000.0)
    analyzer = ConversationAnalyzer(POLICY, clock=clock)
    conversation = made[0].conversation
    analyzer.accept_logs(
        encode.logs_request(encode.conversation_records(conversation, with_end=False))
    )
    clock.now += POLICY.idle_timeout_s - 1
    assert analyzer.summaries_request(1) is None
    assert analyzer.open_conversations == 1
    clock.now += 2
    (summary,) = summary_records(analyzer.summaries_request(1)).values()
    assert "ended-by-timeout" in summary["cx.conversation.flags"]
    last_turn_end = max(s.end_s for s in conversation.segments)
    assert summary["cx.conversation.duration"] == pytest.approx(
        last_turn_end - conversation.segments[0].start_s, abs=1e-6
    )
    late = analyzer.accept_logs(encode.logs_request(encode.conversation_records(conversation)))
    assert late.late == len(conversation.segments) + 1
    assert analyzer.open_conversations == 0  # no phantom conversation


def test_state_is_bounded(made: list[SyntheticConversation]) -> None:
    analyzer = ConversationAnalyzer(POLICY, max_open=5, max_segments=4, max_pending=3)
    open_only = [
        r for m in made[:8] for r in encode.conversation_records(m.conversation, with_end=False)
    ]
    analyzer.accept_logs(encode.logs_request(open_only))
    assert analyzer.open_conversations == 5  # the three least recently active were closed
    document = analyzer.summary()
    assert document["totals"]["rejected"] == {"too-many-segments": 3}
    assert document["records"]["droppedSegments"] > 0
    assert document["records"]["droppedSummaries"] == 0
    analyzer.accept_logs(encode.logs_request(encode.conversation_records(made[9].conversation)))
    assert len(summary_records(analyzer.summaries_request(1))) == 3
    assert analyzer.summary()["records"]["droppedSummaries"] == 1


def test_bad_conversations_are_reported_with_their_reason() -> None:
    overlapping = Conversation(
        "bad-1",
        [Segment(0, 10.0, 15.0, "hi"), Segment(0, 14.0, 18.0, "again")],
        start_s=10.0,
        end_s=20.0,
    )
    good = Conversation(
        "good-1",
        [Segment(0, 10.0, 15.0, "hello"), Segment(1, 16.0, 18.0, "hi")],
        start_s=10.0,
        end_s=20.0,
    )
    unknown_role = encode.conversation_records(good)[0]
    for pair in unknown_role.attributes:
        if pair.key == "cx.conversation.id":
            pair.value.string_value = "good-2"
        if pair.key == "cx.conversation.role":
            pair.value.string_value = "supervisor"
    end = logs_pb2.LogRecord(event_name="cx.conversation.end", time_unix_nano=20_000_000_000)
    end.attributes.add(key="cx.conversation.id", value=common_pb2.AnyValue(string_value="good-2"))
    analyzer = ConversationAnalyzer(POLICY)
    records = [
        *encode.conversation_records(overlapping),
        *encode.conversation_records(good),
        unknown_role,
        end,
    ]
    analyzer.accept_logs(encode.logs_request(records))
    summaries = summary_records(analyzer.summaries_request(1))
    assert summaries["bad-1"]["cx.conversation.error"] == "overlapping-turns"
    assert "rejected" in summaries["bad-1"]["cx.conversation.flags"]
    assert summaries["good-2"]["cx.conversation.error"] == "unknown-role"
    assert (
        "'supervisor' is not one of agent, customer, bot"
        in summaries["good-2"]["cx.conversation.error.reason"]
    )
    assert "cx.conversation.error" not in summaries["good-1"]
    rejected = metric_points(analyzer.export_request(1))["cx.conversation.rejected"]
    assert sorted(labels["cx.conversation.error"] for labels, _ in rejected) == [
        "overlapping-turns",
        "unknown-role",
    ]


# -- the processor service, over HTTP -------------------------------------------------------------
@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector("conversations-backend").start()
    yield running
    running.stop()


@pytest.fixture
def service(tmp_path: Path, collector: Collector) -> Iterator[ProcessorService]:
    config = ProcessorConfig(
        grpc_listen=f"127.0.0.1:{free_port()}",
        http_listen=f"127.0.0.1:{free_port()}",
        status_listen=f"127.0.0.1:{free_port()}",
        export_endpoint=f"127.0.0.1:{collector.grpc_port}",
        data_dir=str(tmp_path / "data"),
        evaluation_interval_s=0.2,
        checkpoint_interval_s=3600,
    )
    running = ProcessorService(config).start()
    yield running
    running.stop()


def post_logs(
    service: ProcessorService, body: bytes, content_type: str = "application/x-protobuf"
) -> int:
    request = urllib.request.Request(
        f"http://{service.config.http_listen}/v1/logs",
        data=body,
        headers={"Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def conversations_summary(service: ProcessorService) -> dict[str, Any]:
    url = f"http://{service.config.status_listen}/api/v1/conversations/summary"
    with urllib.request.urlopen(url, timeout=5) as response:
        document: dict[str, Any] = json.load(response)
        return document


@pytest.mark.otelcol
def test_the_processor_analyses_conversations_from_its_logs_endpoint(
    service: ProcessorService, collector: Collector, made: list[SyntheticConversation]
) -> None:
    payloads = stream(made)
    for payload in payloads[:-1]:
        assert post_logs(service, payload) == 200
    last = logs_service_pb2.ExportLogsServiceRequest.FromString(payloads[-1])
    assert post_logs(service, json_format.MessageToJson(last).encode(), "application/json") == 200
    assert post_logs(service, b"\x0a\xff\xff\xff\xff\x0f") == 400
    deadline = time.monotonic() + 30
    document = conversations_summary(service)
    while document["totals"]["conversations"] < len(made) and time.monotonic() < deadline:
        time.sleep(0.1)
        document = conversations_summary(service)
    totals = document["totals"]
    assert totals["conversations"] == len(made)
    assert totals["frustrated"] == sum(m.truth.frustrated for m in made)
    assert totals["escalated"] == sum(m.truth.escalated for m in made)
    assert totals["silenceEvents"] == sum(m.truth.silence_events for m in made)
    assert totals["talkOverEvents"] == sum(m.truth.talkover_events for m in made)
    assert totals["repeatContacts"] == sum(m.truth.repeat_contact for m in made)
    assert {(g["team"], g["queue"], g["agent"]) for g in document["groups"]} == {
        (
            m.conversation.dimensions.team,
            m.conversation.dimensions.queue,
            m.conversation.dimensions.agent,
        )
        for m in made
    }
    assert all("conversationId" in c for c in document["recentFlagged"])

    def exported(records: list[dict[str, Any]]) -> bool:
        names = {
            metric["name"]
            for record in records
            for rm in record.get("resourceMetrics", [])
            for sm in rm.get("scopeMetrics", [])
            for metric in sm.get("metrics", [])
        }
        summaries = [
            log
            for record in records
            for rl in record.get("resourceLogs", [])
            for sl in rl.get("scopeLogs", [])
            for log in sl.get("logRecords", [])
            if log.get("eventName") == "cx.conversation.summary"
        ]
        return "cx.conversation.frustration.rate" in names and len(summaries) == len(made)

    collector.wait_for(exported, timeout=30)


# -- the command line, exporting to a real collector ----------------------------------------------
@pytest.mark.otelcol
def test_cli_sends_summaries_and_metrics_to_an_otlp_endpoint(
    tmp_path: Path,
    collector: Collector,
    made: list[SyntheticConversation],
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = tmp_path / "calls.jsonl"
    lines = [
        line
        for item in made[:20]
        for line in (
            *(
                segment_line(item.conversation.conversation_id, s, ROLES[s.role])
                for s in item.conversation.segments
            ),
            end_line(item.conversation),
        )
    ]
    calls.write_text("\n".join(lines) + "\n")
    parser = argparse.ArgumentParser(prog="cxj")
    add_conversations_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "conversations",
            "analyze",
            str(calls),
            "--format",
            "otlp",
            "--otlp-endpoint",
            f"127.0.0.1:{collector.grpc_port}",
        ]
    )
    assert args.run(args) == 0
    assert "sent 20 conversation summaries" in capsys.readouterr().out

    def arrived(records: list[dict[str, Any]]) -> bool:
        logs = [
            log
            for record in records
            for rl in record.get("resourceLogs", [])
            for sl in rl.get("scopeLogs", [])
            for log in sl.get("logRecords", [])
        ]
        return len(logs) == 20 and any("resourceMetrics" in record for record in records)

    collector.wait_for(arrived, timeout=30)
