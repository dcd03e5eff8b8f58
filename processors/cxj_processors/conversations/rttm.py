"""RTTM speaker turns, with an optional transcript JSON file for words, roles and context.

RTTM (NIST Rich Transcription Time Marked) lines read
`SPEAKER <file> <chan> <start> <dur> <NA> <NA> <speaker> <NA> <NA>`; each <file> is one
conversation, starting at 0 (the recording's start) and ending at the transcript's
`duration`, else at its last turn's end. Other line types and `;;` comments are skipped.
A speaker label must be a role (agent, customer, bot) unless the transcript maps it:

    {"conversations": {"call-1": {
        "speakers": {"spk0": "agent", "spk1": "customer"},
        "startTime": "2026-01-05T09:30:00Z", "duration": 182.5,
        "team": "north", "queue": "billing", "agent": "a-17", "customer": "cust-9",
        "segments": [{"speaker": "spk1", "start": 3.2, "end": 6.0, "text": "...",
                      "sentiment": -0.2}]}}}

Each transcript segment joins the RTTM turn of the same speaker it overlaps most; one that
overlaps none makes the conversation's problem. startTime places the conversation on the
wall clock (needed for repeat contacts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cxj_processors.conversations.jsonl import BadValue, SourceProblem, parse_time
from cxj_processors.conversations.model import (
    ERROR_MALFORMED,
    ERROR_MISSING_END,
    ERROR_UNKNOWN_ROLE,
    ROLE_CODES,
    ROLES,
    UNKNOWN,
    Conversation,
    ConversationProblem,
    Dimensions,
    Segment,
)

_MIN_FIELDS = 8  # the trailing <NA> <NA> are often left out


@dataclass
class _Turn:
    speaker: str
    start: float
    end: float
    texts: list[tuple[float, str]] = field(default_factory=list)
    sentiments: list[float] = field(default_factory=list)


@dataclass
class _Recording:
    turns: list[_Turn] = field(default_factory=list)
    problem: ConversationProblem | None = None


class RttmReader:
    """Assembles conversations from RTTM files; call read() per file, then finish()."""

    def __init__(
        self, transcripts: dict[str, Any] | None = None, source: str = "transcripts"
    ) -> None:
        self.transcripts = transcripts or {}
        self.transcript_source = source
        self._recordings: dict[str, _Recording] = {}
        self.problems: list[SourceProblem] = []

    def read(self, lines: Iterable[str], source: str) -> None:
        """Reads every SPEAKER line of one RTTM file."""
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0].startswith(";;") or fields[0] != "SPEAKER":
                continue
            if len(fields) < 2:
                self.problems.append(
                    SourceProblem(source, number, "SPEAKER line without a file id")
                )
                continue
            recording = self._recordings.setdefault(fields[1], _Recording())
            if recording.problem is not None:
                continue
            try:
                recording.turns.append(_turn(fields))
            except BadValue as error:
                recording.problem = ConversationProblem(error.code, f"{source}:{number}: {error}")

    def finish(self) -> list[Conversation]:
        """The conversations read, in order of first appearance, with their transcripts."""
        known = self.transcripts.get("conversations", {})
        for name in known:
            if name not in self._recordings:
                self.problems.append(
                    SourceProblem(
                        self.transcript_source, 0, f"conversation {name!r} is in no RTTM file"
                    )
                )
        return [
            self._conversation(name, recording, known.get(name, {}))
            for name, recording in self._recordings.items()
        ]

    def _conversation(self, name: str, recording: _Recording, transcript: Any) -> Conversation:
        conversation = Conversation(name)
        try:
            if not isinstance(transcript, dict):
                raise BadValue("a transcript entry must be an object")
            self._fill(conversation, recording, transcript)
        except BadValue as error:
            conversation.problem = ConversationProblem(
                error.code, f"{self.transcript_source}: conversation {name!r}: {error}"
            )
        if recording.problem is not None:
            conversation.problem = recording.problem
        return conversation

    def _fill(
        self, conversation: Conversation, recording: _Recording, transcript: dict[str, Any]
    ) -> None:
        origin = (
            parse_time(transcript["startTime"], "startTime") if "startTime" in transcript else 0.0
        )
        speakers = transcript.get("speakers", {})
        if not isinstance(speakers, dict):
            raise BadValue("speakers must map RTTM speaker labels to agent, customer or bot")
        for entry in transcript.get("segments", []):
            _attach(recording.turns, entry)
        for turn in recording.turns:
            role = speakers.get(turn.speaker, turn.speaker.lower())
            if role not in ROLE_CODES:
                raise BadValue(
                    f"speaker {turn.speaker!r} is not agent, customer or bot; name the speakers so "
                    "in the RTTM file or map them under speakers in the transcript",
                    ERROR_UNKNOWN_ROLE,
                )
            text = " ".join(t for _, t in sorted(turn.texts)) if turn.texts else None
            sentiment = sum(turn.sentiments) / len(turn.sentiments) if turn.sentiments else math.nan
            conversation.segments.append(
                Segment(ROLE_CODES[role], origin + turn.start, origin + turn.end, text, sentiment)
            )
        conversation.start_s = origin
        if "duration" in transcript:
            conversation.end_s = origin + parse_time(transcript["duration"], "duration")
        else:
            conversation.end_s = origin + max((t.end for t in recording.turns), default=0.0)
        conversation.dimensions = Dimensions(
            str(transcript.get("team", UNKNOWN)),
            str(transcript.get("queue", UNKNOWN)),
            str(transcript.get("agent", UNKNOWN)),
        )
        customer = transcript.get("customer")
        conversation.customer_id = str(customer) if customer else None


def _turn(fields: list[str]) -> _Turn:
    if len(fields) < _MIN_FIELDS:
        raise BadValue(f"a SPEAKER line has at least 8 fields, this one {len(fields)}")
    try:
        start = float(fields[3])
    except ValueError as error:
        raise BadValue(f"turn start {fields[3]!r} is not a number") from error
    if fields[4] in ("<NA>", "NA"):
        raise BadValue(f"the turn at {start} s has no duration (missing end)", ERROR_MISSING_END)
    try:
        duration = float(fields[4])
    except ValueError as error:
        raise BadValue(f"turn duration {fields[4]!r} is not a number") from error
    if not (math.isfinite(start) and math.isfinite(duration)):
        raise BadValue("turn times must be finite numbers")
    return _Turn(fields[7], start, start + duration)


def _attach(turns: list[_Turn], entry: Any) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("speaker"), str):
        raise BadValue("a transcript segment needs speaker, start and end")
    start = parse_time(entry.get("start"), "segments[].start")
    end = parse_time(entry.get("end"), "segments[].end")
    best, overlap = None, 0.0
    for turn in turns:
        if turn.speaker == entry["speaker"]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > overlap:
                best, overlap = turn, shared
    if best is None:
        raise BadValue(
            f"transcript segment at {start:.3f}-{end:.3f} s ({entry['speaker']}) overlaps no RTTM "
            "turn of that speaker",
            ERROR_MALFORMED,
        )
    text = entry.get("text")
    if isinstance(text, str) and text:
        best.texts.append((start, text))
    sentiment = entry.get("sentiment")
    if isinstance(sentiment, int | float) and not isinstance(sentiment, bool):
        if not -1 <= sentiment <= 1:
            raise BadValue(f"sentiment must be from -1 to 1, got {sentiment!r}")
        best.sentiments.append(float(sentiment))


def rttm_lines(conversation: Conversation) -> list[str]:
    """A conversation's turns as RTTM lines, speakers named by role (times from its start)."""
    origin = conversation.start_s or 0.0
    return [
        f"SPEAKER {conversation.conversation_id} 1 {s.start_s - origin:.6f} "
        f"{s.end_s - s.start_s:.6f} <NA> <NA> {ROLES[s.role]} <NA> <NA>"
        for s in conversation.segments
    ]
