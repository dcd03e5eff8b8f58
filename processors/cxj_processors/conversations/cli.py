"""`cxj conversations analyze`: conversation signals for RTTM and JSON-lines files.

Exit codes: 0 when every conversation was analysed, 1 when some were rejected (each is
reported with its reason; the rest of the batch still goes through) or the OTLP export
failed, 2 when a file or the policy cannot be read at all.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from cxj_processors.conversations.batch import BatchResult, analyze_batch, render_table
from cxj_processors.conversations.documents import slis_document, summary_document, totals_document
from cxj_processors.conversations.jsonl import JsonlReader, SourceProblem
from cxj_processors.conversations.metrics import metrics_request
from cxj_processors.conversations.model import Conversation
from cxj_processors.conversations.otlp import summaries_request
from cxj_processors.conversations.policy import (
    ConversationPolicy,
    PolicyError,
    default_policy,
    load_policy,
)
from cxj_processors.conversations.rttm import RttmReader

_RTTM = (".rttm",)
_JSONL = (".jsonl", ".ndjson", ".json")


class _Unreadable(Exception):
    """Input that cannot be read at all (exit 2)."""


def _read(
    files: list[str], transcripts_path: str | None
) -> tuple[list[Conversation], list[SourceProblem]]:
    transcripts: dict[str, Any] = {}
    if transcripts_path:
        try:
            transcripts = json.loads(Path(transcripts_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _Unreadable(f"{transcripts_path}: cannot read transcripts: {error}") from error
        if not isinstance(transcripts, dict):
            raise _Unreadable(f'{transcripts_path}: expected an object with "conversations"')
    jsonl = JsonlReader()
    rttm = RttmReader(transcripts, transcripts_path or "transcripts")
    for name in files:
        suffix = Path(name).suffix.lower()
        if name != "-" and suffix not in _RTTM + _JSONL:
            raise _Unreadable(f"{name}: unknown file type; use .rttm, .jsonl (or .ndjson, .json)")
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _Unreadable(f"{name}: cannot read: {error}") from error
        reader = rttm if suffix in _RTTM else jsonl
        reader.read(text.splitlines(), "<stdin>" if name == "-" else name)
    conversations = jsonl.finish() + rttm.finish()
    return conversations, jsonl.problems + rttm.problems


def _json(result: BatchResult, problems: list[SourceProblem], policy: ConversationPolicy) -> str:
    document = {
        "policy": policy.name,
        "conversations": [summary_document(s) for s in result.summaries],
        "problems": [{"source": p.source, "line": p.line, "reason": p.reason} for p in problems],
        "totals": totals_document(result.totals.overall),
        "slis": slis_document(result.totals.overall, policy),
    }
    return json.dumps(document, indent=2)


def _otlp(result: BatchResult, policy: ConversationPolicy, endpoint: str | None) -> int:
    from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    now_ns = time.time_ns()
    starts = [s.start_s for s in result.summaries if math.isfinite(s.start_s)]
    start_ns = int(min(starts) * 1e9) if starts else now_ns
    metrics = metrics_request(result.totals, policy, now_ns, min(start_ns, now_ns), 0, {})
    logs = summaries_request(result.summaries, now_ns)
    if endpoint is None:
        for message, payload in (
            (metrics_service_pb2.ExportMetricsServiceRequest(), metrics),
            (logs_service_pb2.ExportLogsServiceRequest(), logs),
        ):
            message.ParseFromString(payload)
            print(json_format.MessageToJson(message, indent=None))
        return 0
    import grpc

    from cxj_processors.outbox import grpc_sender

    send = grpc_sender(endpoint, insecure=True, headers="")
    try:
        send("metrics", metrics)
        send("logs", logs)
    except grpc.RpcError as error:
        print(f"error: OTLP export to {endpoint} failed: {error.code().name}", file=sys.stderr)
        return 1
    print(f"sent {len(result.summaries)} conversation summaries and their metrics to {endpoint}")
    return 0


def run_analyze(args: argparse.Namespace) -> int:
    """Runs `cxj conversations analyze`."""
    if args.otlp_endpoint and args.format != "otlp":
        print("error: --otlp-endpoint needs --format otlp", file=sys.stderr)
        return 2
    try:
        policy = load_policy(args.policy) if args.policy else default_policy()
        conversations, problems = _read(args.files, args.transcripts)
    except (PolicyError, _Unreadable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    result = analyze_batch(conversations, policy)
    code = 0
    if args.format == "json":
        print(_json(result, problems, policy))
    elif args.format == "otlp":
        code = _otlp(result, policy, args.otlp_endpoint)
    else:
        print(render_table(result))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    rejected = [s for s in result.summaries if s.problem is not None]
    for summary in rejected:
        assert summary.problem is not None
        print(
            f"error: conversation {summary.conversation_id}: {summary.problem.code}: "
            f"{summary.problem.reason}",
            file=sys.stderr,
        )
    return code or (1 if problems or rejected else 0)
