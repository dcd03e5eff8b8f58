"""`cxj demo` as a newcomer runs it (`make run`): the whole story, checked act by act.

The real command runs once for the module, as a subprocess, on free ports: the simulated
contact center, the four example journeys, the processor and the scripted green-network
scenario, shortened from 120 s to 100 s (every act still plays out: the voice page resolves
about 30 s after the repair, the desktop page fires about 7 s after its fault). The test reads
what the demo writes for scripts (`--events`: phases, every run with its steps, each
evaluation's per-journey summaries, alerts), the report it writes, and the lines it prints for
the reader (where the report is and what to do next).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.processes import REPO, free_port

CXJ = REPO / ".venv" / "bin" / "cxj"
DURATION_S = 100.0
# The first start after the kernels change compiles them: over five minutes on a loaded
# 2-core machine; warm, the whole module takes about 105 s.
TIMEOUT_S = 840
VOICE, DESKTOP = "default/voice-call", "default/agent-desktop"
HTTP_JOURNEYS = ("default/agent-desktop", "default/chat-escalation", "default/bot-handoff")
ACCEPTABLE_MOS = 3.6  # ITU-T G.107: R 70, "some users dissatisfied" below
ACTS = ["healthy", "voice", "healthy", "desktop", "healthy"]

pytestmark = pytest.mark.timeout(TIMEOUT_S + 60)


@dataclass(frozen=True)
class Act:
    """One phase of the scenario: what it does and when it was in force."""

    action: str
    start: float
    end: float


@dataclass(frozen=True)
class Demo:
    """What one `cxj demo` run left behind."""

    stdout: str
    report: Path
    events: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]

    def acts(self) -> list[Act]:
        phases = self.of("phase")
        ends = [p["t"] for p in phases[1:]] + [self.of("report")[0]["t"]]
        return [Act(p["action"], p["t"], end) for p, end in zip(phases, ends, strict=True)]

    def act(self, index: int) -> Act:
        return self.acts()[index]

    def runs(self, journey: str, act: Act) -> list[dict[str, Any]]:
        """The journey's runs that started and ended within the act."""
        return [
            r
            for r in self.of("run")
            if r["journey"] == journey
            and r["t"] - r["durationMs"] / 1000 >= act.start
            and r["t"] <= act.end
        ]

    def summaries(self, journey: str, start: float, end: float) -> list[dict[str, Any]]:
        """The journey's summary at each evaluation between start and end."""
        return [
            s
            for e in self.of("evaluation")
            if start <= e["t"] <= end
            for s in e["journeys"]
            if f"{s['namespace']}/{s['name']}" == journey
        ]

    def alerts(self, journey: str, severity: str = "page") -> list[dict[str, Any]]:
        return [
            a for a in self.of("alert") if a["journey"] == journey and a["severity"] == severity
        ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("demo")
    report, events = folder / "report.html", folder / "story.jsonl"
    result = subprocess.run(
        [
            str(CXJ),
            "demo",
            "--duration",
            f"{DURATION_S:g}",
            "--report",
            str(report),
            "--events",
            str(events),
            "--status-listen",
            f"127.0.0.1:{free_port()}",
            "--free-ports",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"cxj demo exited {result.returncode}:\n{result.stderr[-3000:]}"
    lines = events.read_text(encoding="utf-8").splitlines()
    return Demo(result.stdout, report, [json.loads(line) for line in lines])


def step(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in run["steps"] if s["name"] == name)


def within_threshold(s: dict[str, Any]) -> bool:
    return bool(s["ok"]) and (s["thresholdMs"] is None or s["durationMs"] <= s["thresholdMs"])


def test_the_story_plays_its_acts_in_order_and_says_so(demo: Demo) -> None:
    start = demo.of("start")[0]
    assert start["scenario"] == "green-network"
    assert start["sipEndpoint"] == "running"  # SIPp is installed: calls are real
    assert [a.action for a in demo.acts()] == ACTS
    told = [line.removeprefix("» ") for line in demo.stdout.splitlines() if line.startswith("» ")]
    assert told == [p["note"] for p in demo.of("phase")]
    fractions = [(a.start - demo.act(0).start) / DURATION_S for a in demo.acts()]
    assert fractions == pytest.approx([0.0, 0.25, 0.58, 0.70, 0.92], abs=0.03)


def test_while_healthy_every_journey_succeeds_and_nothing_fires(demo: Demo) -> None:
    healthy = demo.act(0)
    for journey in (VOICE, *HTTP_JOURNEYS):
        runs = demo.runs(journey, healthy)
        assert len(runs) >= 5, f"{journey}: {len(runs)} runs in the healthy act"
        assert {r["outcome"] for r in runs} == {"success"}, journey
    summaries = demo.summaries(VOICE, healthy.start, healthy.end)
    assert summaries, "no evaluation of the voice journey while healthy"
    for summary in summaries:
        assert summary["firing"] == []
        assert min(summary["mos"].values()) > 4.3  # G.711 on a clean path: 4.38
    assert not [a for a in demo.of("alert") if a["t"] <= healthy.end]


def test_voice_path_fault_hurts_calls_while_http_and_ping_stay_fast(demo: Demo) -> None:
    fault = demo.act(1)
    calls = demo.runs(VOICE, fault)
    assert len(calls) >= 8, f"{len(calls)} voice runs during the fault"
    for call in calls:
        media = step(call, "media-path")
        assert call["outcome"] == "degraded", call
        assert media["measurements"]["cx.voice.inbound.mos"] < ACCEPTABLE_MOS, media
        assert media["measurements"]["cx.voice.outbound.mos"] > 4.3, media  # one direction only
        # the "green" network: name resolution, SIP ping and call set-up stay within threshold
        for fast in ("resolve-sbc", "sip-options", "place-call"):
            assert within_threshold(step(call, fast)), (fast, step(call, fast))
    for journey in HTTP_JOURNEYS:
        runs = demo.runs(journey, fault)
        assert len(runs) >= 8, f"{journey}: {len(runs)} runs during the voice fault"
        for run in runs:
            assert run["outcome"] == "success", run
            assert all(within_threshold(s) for s in run["steps"]), run


def test_mos_falls_and_a_page_fires_naming_the_network_and_the_media_path(demo: Demo) -> None:
    healthy, fault, repaired = demo.act(0), demo.act(1), demo.act(2)
    before = demo.summaries(VOICE, healthy.start, fault.start)[-1]["mos"]["inbound"]
    during = [s["mos"]["inbound"] for s in demo.summaries(VOICE, fault.start, repaired.end)]
    assert before > 4.3
    assert min(during) < 3.1, (
        f"inbound MOS only fell to {min(during)}"
    )  # R 60: nearly all dissatisfied
    fired = [a for a in demo.alerts(VOICE) if a["state"] == "fired"]
    assert len(fired) == 1, demo.alerts(VOICE)
    page = fired[0]
    assert fault.start < page["t"] < fault.end
    assert (page["layer"], page["step"]) == ("network", "media-path")
    assert page["summary"]["suspectedLayer"] == "network"
    assert page["summary"]["mos"]["inbound"] < before
    assert page["summary"]["fastestBurn"]["rate"] > 14.4  # the 30-day page factor
    assert re.fullmatch(r"[0-9a-f]{32}", page["traceId"]), page["traceId"]
    degraded_calls = {
        r["traceId"] for r in demo.of("run") if r["journey"] == VOICE and r["outcome"] == "degraded"
    }
    assert page["traceId"] in degraded_calls


def test_after_the_repair_the_page_resolves(demo: Demo) -> None:
    repaired = demo.act(2)
    resolved = [a for a in demo.alerts(VOICE) if a["state"] == "resolved"]
    assert len(resolved) == 1, demo.alerts(VOICE)
    assert resolved[0]["t"] > repaired.start
    calls = demo.runs(VOICE, repaired)
    assert {r["outcome"] for r in calls} == {"success"}, json.dumps(
        [r for r in calls if r["outcome"] != "success"]
    )
    last = demo.summaries(VOICE, resolved[0]["t"], demo.acts()[-1].end)[-1]
    assert "page" not in last["firing"]


def test_a_slow_desktop_server_is_charged_to_the_platform(demo: Demo) -> None:
    slow = demo.act(3)
    runs = demo.runs(DESKTOP, slow)
    assert len(runs) >= 4, f"{len(runs)} desktop runs while slow"
    for run in runs:
        assert run["outcome"] == "degraded", run
        load = step(run, "load-desktop")
        assert load["durationMs"] >= 2500 > load["thresholdMs"], load
    pages = demo.alerts(DESKTOP)
    assert [a["state"] for a in pages] == ["fired"], pages
    assert slow.start < pages[0]["t"] < slow.end
    assert (pages[0]["layer"], pages[0]["step"]) == ("platform", "load-desktop")
    # the voice path is fine meanwhile, and neither chat nor the bot ever paged
    calls = demo.runs(VOICE, slow)
    assert {r["outcome"] for r in calls} == {"success"}, json.dumps(
        [r for r in calls if r["outcome"] != "success"]
    )
    for journey in ("default/chat-escalation", "default/bot-handoff"):
        assert demo.alerts(journey) == demo.alerts(journey, "ticket") == []


def test_the_report_is_written_and_the_reader_is_told_where_and_what_next(demo: Demo) -> None:
    assert demo.of("report")[0]["path"] == str(demo.report.resolve())
    page = demo.report.read_text(encoding="utf-8")
    head = page.split("<body", 1)[0]
    assert "<link" not in head
    assert "src=" not in page  # nothing fetched: it opens offline
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    for shown in ("voice-call", "agent-desktop", "page · network · media-path"):
        assert shown in text
    assert "page · platform · load-desktop" in text
    lines = demo.stdout.splitlines()
    where = lines.index(f"report: {demo.report.resolve()}")
    assert any(line.startswith("next: open the report") for line in lines[where + 1 :])
