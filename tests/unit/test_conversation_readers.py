"""Batch input: RTTM (+ transcripts) and JSON lines; bad conversations are reported, not fatal."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import pytest

from cxj_processors.conversations.batch import analyze_batch
from cxj_processors.conversations.command import add_conversations_parser
from cxj_processors.conversations.generator import GeneratorOptions, generate
from cxj_processors.conversations.jsonl import JsonlReader, end_line, segment_line
from cxj_processors.conversations.model import ROLES, Conversation, ConversationSummary
from cxj_processors.conversations.policy import default_policy
from cxj_processors.conversations.rttm import RttmReader, rttm_lines

POLICY = default_policy()


def jsonl(conversation: Conversation) -> list[str]:
    lines = [
        segment_line(conversation.conversation_id, s, ROLES[s.role]) for s in conversation.segments
    ]
    return [*lines, end_line(conversation)]


def read_jsonl(lines: list[str]) -> tuple[dict[str, ConversationSummary], list[str]]:
    reader = JsonlReader()
    reader.read(lines, "calls.jsonl")
    result = analyze_batch(reader.finish(), POLICY)
    return {s.conversation_id: s for s in result.summaries}, [str(p) for p in reader.problems]


def seg(conversation: str, role: str, start: Any, end: Any, text: str | None = None) -> str:
    record: dict[str, Any] = {
        "type": "segment",
        "conversation": conversation,
        "role": role,
        "start": start,
        "end": end,
    }
    if text is not None:
        record["text"] = text
    return json.dumps(record)


def end(conversation: str, finish: Any, **extra: Any) -> str:
    return json.dumps({"type": "end", "conversation": conversation, "end": finish, **extra})


GOOD = [
    seg("good", "agent", 0, 3, "hello"),
    seg("good", "customer", 4, 8, "hi"),
    end("good", 9, start=0),
]


def test_generated_conversations_survive_a_jsonl_round_trip() -> None:
    made = generate(GeneratorOptions(conversations=40, seed=11), POLICY)
    lines = [line for item in made for line in jsonl(item.conversation)]
    summaries, problems = read_jsonl(lines)
    assert problems == []
    for item in made:
        summary = summaries[item.conversation.conversation_id]
        truth = item.truth
        assert summary.problem is None
        assert summary.duration_s == pytest.approx(truth.duration_s, abs=1e-6)
        assert summary.silence_events == truth.silence_events
        assert summary.talkover_events == truth.talkover_events
        assert summary.frustrated == truth.frustrated
        assert summary.repeat_contact == truth.repeat_contact
        assert all(summary.disclosures.values()) == truth.disclosure_met


@pytest.mark.parametrize(
    ("lines", "code", "reason"),
    [
        (
            [seg("bad", "supervisor", 0, 2), end("bad", 5)],
            "unknown-role",
            "role 'supervisor' is not one of",
        ),
        ([seg("bad", "agent", 0, 2)], "missing-end", "no end record"),
        ([seg("bad", "agent", 0, None), end("bad", 5)], "missing-end", 'a segment needs "end"'),
        (
            [seg("bad", "agent", 0, 5), seg("bad", "agent", 4, 7), end("bad", 9)],
            "overlapping-turns",
            "the agent turn at 0.000-5.000 s and the agent turn at 4.000-7.000 s",
        ),
        ([seg("bad", "agent", 5, 2), end("bad", 9)], "clock-jump", "ends before it starts"),
        ([seg("bad", "agent", 3600, 3602), end("bad", 9, start=0)], "clock-jump", "lies outside"),
        (
            [seg("bad", "agent", 0, 2), end("bad", 90000, start=0)],
            "clock-jump",
            "more than timing.maxDuration",
        ),
        (
            [seg("bad", "agent", 0, 2), end("bad", 5), end("bad", 6)],
            "malformed",
            "a second end record",
        ),
        (
            [seg("bad", "agent", "noon", 2), end("bad", 5)],
            "malformed",
            "start must be seconds or an RFC 3339",
        ),
        (
            [json.dumps({"type": "hold", "conversation": "bad"}), end("bad", 5)],
            "malformed",
            '"type" must be',
        ),
    ],
    ids=[
        "unknown-role",
        "no-end-record",
        "segment-without-end",
        "one-speaker-overlaps-itself",
        "segment-ends-before-it-starts",
        "segment-an-hour-outside",
        "conversation-longer-than-max-duration",
        "two-end-records",
        "start-not-a-time",
        "unknown-record-type",
    ],
)
def test_bad_conversations_are_reported_and_the_rest_goes_through(
    lines: list[str], code: str, reason: str
) -> None:
    summaries, problems = read_jsonl([*GOOD, *lines])
    assert problems == []
    assert summaries["good"].problem is None
    assert summaries["good"].talk_s == (3.0, 4.0, 0.0)
    problem = summaries["bad"].problem
    assert problem is not None
    assert problem.code == code
    assert reason in problem.reason


def test_lines_without_a_conversation_are_problems_of_the_file() -> None:
    summaries, problems = read_jsonl([*GOOD, "{not json", json.dumps({"type": "segment"})])
    assert summaries["good"].problem is None
    assert problems[0].startswith("calls.jsonl:4: not JSON")
    assert problems[1] == 'calls.jsonl:5: a record needs "conversation": a non-empty string'


def test_rfc3339_times_and_context_on_any_record() -> None:
    summaries, _ = read_jsonl(
        [
            json.dumps({"type": "segment", "conversation": "c", "role": "agent", "team": "north",
                        "start": "2026-01-05T09:30:00Z", "end": "2026-01-05T09:30:04.5Z"}),
            end("c", "2026-01-05T09:30:10+00:00", queue="billing"),
        ]
    )  # fmt: skip
    summary = summaries["c"]
    assert summary.duration_s == pytest.approx(10.0)
    assert summary.talk_s[0] == pytest.approx(4.5)
    assert (summary.dimensions.team, summary.dimensions.queue) == ("north", "billing")


# -- RTTM -----------------------------------------------------------------------------------------
RTTM = """\
;; two calls diarized by speaker
SPKR-INFO call-1 1 <NA> <NA> <NA> unknown spk0 <NA> <NA>
SPEAKER call-1 1 0.50 4.00 <NA> <NA> spk0 <NA> <NA>
SPEAKER call-1 1 4.20 6.30 <NA> <NA> spk1 <NA> <NA>
SPEAKER call-1 1 12.00 3.00 <NA> <NA> spk0 <NA> <NA>
SPEAKER call-2 1 0.00 3.00 <NA> <NA> agent <NA> <NA>
SPEAKER call-2 1 2.00 4.00 <NA> <NA> customer
"""
TRANSCRIPTS: dict[str, Any] = {
    "conversations": {
        "call-1": {
            "speakers": {"spk0": "agent", "spk1": "customer"},
            "startTime": "2026-01-05T09:30:00Z",
            "duration": 22,
            "team": "north",
            "queue": "cards",
            "agent": "a-17",
            "customer": "cust-9",
            "segments": [
                {
                    "speaker": "spk0",
                    "start": 0.5,
                    "end": 4.5,
                    "text": "hello this call may be recorded",
                },
                {
                    "speaker": "spk1",
                    "start": 4.2,
                    "end": 7.0,
                    "text": "this is ridiculous",
                    "sentiment": -0.6,
                },
                {
                    "speaker": "spk1",
                    "start": 7.0,
                    "end": 10.5,
                    "text": "I want to file a complaint",
                },
            ],
        }
    }
}


def read_rttm(
    text: str, transcripts: dict[str, Any] | None = None
) -> tuple[dict[str, ConversationSummary], list[str]]:
    reader = RttmReader(transcripts, "transcripts.json")
    reader.read(text.splitlines(), "calls.rttm")
    result = analyze_batch(reader.finish(), POLICY)
    return {s.conversation_id: s for s in result.summaries}, [str(p) for p in reader.problems]


def test_rttm_with_transcripts() -> None:
    summaries, problems = read_rttm(RTTM, TRANSCRIPTS)
    assert problems == []
    call = summaries["call-1"]
    assert call.start_s == pytest.approx(1767605400.0)
    assert call.duration_s == 22
    assert call.talk_s == pytest.approx((7.0, 6.3, 0.0))
    assert call.talkover_events == 1
    assert call.silence_events == 1  # 15 s to 22 s at the end
    assert call.longest_silence_s == pytest.approx(7.0)
    assert call.disclosures == {"recording-notice": True}
    assert call.frustrated
    assert call.escalation_triggers == ("phrase",)
    assert call.sentiment_quarters[1][1] == pytest.approx(-0.6)  # customer, second quarter
    assert call.dimensions.queue == "cards"
    other = summaries["call-2"]  # no transcript: roles named in RTTM, no text, ends at last turn
    assert other.problem is None
    assert other.duration_s == 6.0
    assert other.disclosures == {}
    assert math.isnan(other.words_per_minute[0])


@pytest.mark.parametrize(
    ("rttm", "transcripts", "code", "reason"),
    [
        (
            "SPEAKER x 1 0 2 <NA> <NA> spk9 <NA> <NA>",
            None,
            "unknown-role",
            "speaker 'spk9' is not agent",
        ),
        ("SPEAKER x 1 0 <NA> <NA> <NA> agent <NA> <NA>", None, "missing-end", "has no duration"),
        ("SPEAKER x 1 zero 2 <NA> <NA> agent <NA> <NA>", None, "malformed", "turn start 'zero'"),
        ("SPEAKER x 1 5 -3 <NA> <NA> agent <NA> <NA>", None, "clock-jump", "ends before it starts"),
        (
            "SPEAKER x 1 0 2 <NA> <NA> agent <NA> <NA>",
            {"conversations": {"x": {"segments": [{"speaker": "customer", "start": 0, "end": 1}]}}},
            "malformed",
            "overlaps no RTTM turn of that speaker",
        ),
    ],
    ids=[
        "unmapped-speaker",
        "no-duration",
        "start-not-a-number",
        "negative-duration",
        "transcript-off-the-turns",
    ],
)
def test_bad_rttm_conversations_are_reported(
    rttm: str, transcripts: dict[str, Any] | None, code: str, reason: str
) -> None:
    merged = {
        "conversations": {
            **TRANSCRIPTS["conversations"],
            **(transcripts or {}).get("conversations", {}),
        }
    }
    summaries, _ = read_rttm(f"{RTTM}{rttm}\n", merged)
    assert summaries["call-1"].problem is None
    problem = summaries["x"].problem
    assert problem is not None
    assert (problem.code, reason in problem.reason) == (code, True), problem


def test_generated_conversations_survive_an_rttm_round_trip() -> None:
    made = generate(GeneratorOptions(conversations=20, seed=4, text=False), POLICY)
    text = "\n".join(line for item in made for line in rttm_lines(item.conversation))
    summaries, _ = read_rttm(text)
    for item in made:
        summary = summaries[item.conversation.conversation_id]
        assert summary.problem is None
        last_turn = max(s.end_s for s in item.conversation.segments) - (
            item.conversation.start_s or 0
        )
        assert summary.duration_s == pytest.approx(last_turn, abs=1e-5)
        assert summary.talkover_events == item.truth.talkover_events
        assert summary.talk_s == pytest.approx(tuple(item.truth.talk_s), abs=1e-5)


# -- the command line -----------------------------------------------------------------------------
def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="cxj")
    add_conversations_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = generate(GeneratorOptions(conversations=6, seed=2), POLICY)
    calls = tmp_path / "calls.jsonl"
    calls.write_text("\n".join(line for item in made for line in jsonl(item.conversation)) + "\n")
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        "\n".join([seg("bad", "agent", 0, 5), seg("bad", "agent", 4, 7), end("bad", 9)]) + "\n"
    )
    rttm = tmp_path / "calls.rttm"
    rttm.write_text(RTTM)
    transcripts = tmp_path / "transcripts.json"
    transcripts.write_text(json.dumps(TRANSCRIPTS))
    return {"calls": calls, "broken": broken, "rttm": rttm, "transcripts": transcripts}


def test_cli_table(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["conversations", "analyze", str(files["calls"]), str(files["rttm"]),
                "--transcripts", str(files["transcripts"])]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("CONVERSATION")
    assert "call-1" in out
    assert "8 analysed, 0 rejected" in out


def test_cli_json_reports_the_bad_conversation_and_exits_one(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli(
            [
                "conversations",
                "analyze",
                str(files["calls"]),
                str(files["broken"]),
                "--format",
                "json",
            ]
        )
        == 1
    )
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    bad = next(c for c in document["conversations"] if c["conversationId"] == "bad")
    assert bad["error"]["code"] == "overlapping-turns"
    assert document["totals"]["conversations"] == 6
    assert document["totals"]["rejected"] == {"overlapping-turns": 1}
    assert "error: conversation bad: overlapping-turns:" in captured.err


def test_cli_otlp_prints_otlp_json(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["conversations", "analyze", str(files["calls"]), "--format", "otlp"]) == 0
    metrics, logs = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    names = {m["name"] for m in metrics["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]}
    assert {"cx.conversation.count", "cx.conversation.silence.ratio"} <= names
    records = logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    assert len(records) == 6
    assert {r["eventName"] for r in records} == {"cx.conversation.summary"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.jsonl"], "missing.jsonl: cannot read"),
        (["calls.txt"], "unknown file type"),
        (["{calls}", "--policy", "missing-policy.yaml"], "missing-policy.yaml: cannot read"),
        (["{calls}", "--otlp-endpoint", "127.0.0.1:1"], "--otlp-endpoint needs --format otlp"),
    ],
    ids=["missing-file", "unknown-type", "missing-policy", "endpoint-without-otlp"],
)
def test_cli_unreadable_input_exits_two(
    files: dict[str, Path], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.replace("{calls}", str(files["calls"])) for a in argv]
    assert cli(["conversations", "analyze", *argv]) == 2
    assert message in capsys.readouterr().err
