"""The HTML report: the latest numbers on every card, self-contained, charts with every point."""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest

from cxj_processors.extract import SeriesKey
from cxj_processors.model import (
    APDEX_WINDOWS,
    LAYERS,
    MOS_DIRECTIONS,
    WINDOWS,
    SeriesContract,
    SeriesStatus,
)
from cxj_processors.pipeline import JourneyStatus
from cxj_processors.report import ReportData, axes, from_json, render_report, to_json
from cxj_processors.report import formats as fmt
from cxj_processors.status import journey_document

T0 = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC
VOID = {"br", "meta", "img", "hr", "input", "link", "source", "wbr"}


# --- a tiny DOM over the stdlib parser ---------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        parts = (c if isinstance(c, str) else c.text() for c in self.children)
        return " ".join(p for p in parts if p)

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            if isinstance(child, Node):
                found += child.walk()
        return found

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        return [
            n
            for n in self.walk()
            if n.tag == tag
            and all(n.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"</{tag}> closes nothing open")

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.stack[-1].children.append(data.strip())


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert [n.tag for n in builder.stack] == ["#document"], "unclosed elements"
    return builder.root


# --- journey documents as status.journey_document() writes them ---------------------------


def document(name: str, location: str = "lab", **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "namespace": "cc",
        "name": name,
        "location": location,
        "type": "voice",
        "score": 97.4,
        "apdex": {"5m": 0.95, "1h": 0.9712, "1d": 0.98},
        "apdexThreshold": 2.0,
        "slo": {
            "objective": 99.5,
            "periodDays": 30,
            "budgeting": "occurrences",
            "attainment": 0.998731,
            "budgetRemaining": 0.7462,
            "burnRates": {
                "5m": 0.4,
                "30m": 0.3,
                "1h": 0.2,
                "2h": 0.2,
                "6h": 0.1,
                "1d": 0.1,
                "3d": 0.1,
            },
            "fastestBurn": {"rate": 0.4, "window": "5m"},
        },
        "alerts": {"page": False, "ticket": False},
        "firing": [],
        "mos": {
            "mean": {"outbound": 4.3712, "inbound": 4.4021},
            "p10": {"outbound": 4.25, "inbound": 4.35},
        },
        "attribution": {"endpoint": 0.0, "network": 0.0, "platform": 0.0, "dependency": 0.0},
        "suspectedLayer": "none",
        "failingStep": "",
        "exampleTraceId": "",
        "runs": 1440,
    }
    for path, value in changes.items():
        target = doc
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return doc


def status_api_document(name: str) -> dict[str, Any]:
    """What the status API says about a journey that has no run in its windows yet."""
    nan = float("nan")
    contract = SeriesContract(0.995, 30, "occurrences", 0.0, 1.0, 2.0, 50, 30, 20)
    status = SeriesStatus(
        runs_total=0, attainment=nan, budget_remaining=1.0,
        burn_rates=dict.fromkeys(WINDOWS, 0.0), alerts={"page": False, "ticket": False},
        apdex=dict.fromkeys(APDEX_WINDOWS, nan), mos_mean=dict.fromkeys(MOS_DIRECTIONS, nan),
        mos_p10=dict.fromkeys(MOS_DIRECTIONS, nan), attribution=dict.fromkeys(LAYERS, 0.0),
        score=nan, example_trace_id="",
    )  # fmt: skip
    return journey_document(
        JourneyStatus(SeriesKey("cc", name, "lab"), "chat", contract, status, "")
    )


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__ if isinstance(value, list) else "scalar"


def test_documents_used_here_have_the_status_api_shape() -> None:
    assert shape(document("x")) == shape(status_api_document("x"))


def test_a_journey_without_runs_yet_shows_no_data_and_dashes() -> None:
    doc = status_api_document("new-journey")
    root = parse(render_report(history([doc, CHAT_HEALTHY])))
    card = card_of(root, doc)
    assert [p.text() for p in card.find_all("span", class_="pill")] == ["no data"]
    assert card.find_all("span", class_="big")[0].text() == "–"
    assert "– [2.0]" in card.text()
    assert "100.0%" in card.text(), "no run has spent any budget"
    assert "1 healthy" in root.find_all("header")[0].text()
    assert "1 no data" in root.find_all("header")[0].text()
    assert "1 of 2 without data yet" in root.find_all("header")[0].text()


VOICE_PAGING = document(
    "voice-inbound",
    score=58.3,
    firing=["page", "ticket"],
    alerts={"page": True, "ticket": True},
    slo__budgetRemaining=-0.1234,
    slo__attainment=0.991,
    slo__fastestBurn={"rate": 143.52, "window": "5m"},
    mos__mean={"outbound": 3.214, "inbound": 3.4449},
    attribution={"endpoint": 0.1, "network": 0.9, "platform": 0.0, "dependency": 0.0},
    suspectedLayer="network",
    failingStep="voice-path",
    exampleTraceId="4bf92f3577b34da6a3ce929d0e0e4736",
)
CHAT_HEALTHY = document(
    "web-chat", type="chat", score=99.6, mos__mean={"outbound": None, "inbound": None}
)
DESKTOP_DEGRADED = document(
    "agent-desktop",
    type="agent-desktop",
    score=81.5,
    apdex={"5m": 0.5, "1h": 0.6349, "1d": 0.9},
    apdexThreshold=0.25,
    mos__mean={"outbound": None, "inbound": None},
    suspectedLayer="dependency",
    failingStep="crm-lookup",
)


def history(latest: list[dict[str, Any]], count: int = 12, **kwargs: Any) -> ReportData:
    """`count` snapshots a second apart; earlier ones have other numbers than the latest."""
    snapshots = []
    for i in range(count):
        docs = copy.deepcopy(latest)
        if i < count - 1:
            for doc in docs:
                doc["score"] = 11.1 + i
                doc["slo"]["budgetRemaining"] = 0.0111
        snapshots.append((T0 + i, docs))
    return ReportData(
        title=kwargs.pop("title", "cxjourney test"),
        generated_at=T0 + count,
        time_scale=kwargs.pop("time_scale", 1.0),
        snapshots=snapshots,
        **kwargs,
    )


def card_of(root: Node, doc: dict[str, Any]) -> Node:
    cards = root.find_all("article", data_series=fmt.series_key(doc))
    assert len(cards) == 1, f"expected one card for {fmt.series_key(doc)}"
    return cards[0]


# --- the cards show the latest numbers ---------------------------------------------------


def expected_texts(doc: dict[str, Any]) -> list[str]:
    slo = doc["slo"]
    texts = [
        doc["name"],
        doc["location"],
        f"{doc['score']:.0f}",
        f"{doc['apdex']['1h']:.2f} [{fmt.apdex(None, doc['apdexThreshold']).split('[')[1]}",
        f"{slo['attainment'] * 100:.2f}%",
        f"{slo['budgetRemaining'] * 100:.1f}%",
        f"{slo['fastestBurn']['rate']:.1f}×",
        slo["fastestBurn"]["window"],
        *doc["firing"],
    ]
    if doc["suspectedLayer"] != "none":
        texts += [doc["suspectedLayer"], doc["failingStep"]]
    if doc["exampleTraceId"]:
        texts.append(doc["exampleTraceId"])
    texts += [f"{v:.2f}" for v in doc["mos"]["mean"].values() if v is not None]
    return texts


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(VOICE_PAGING, id="voice-paging-negative-budget"),
        pytest.param(CHAT_HEALTHY, id="chat-healthy-no-voice"),
        pytest.param(DESKTOP_DEGRADED, id="desktop-degraded-quarter-second-apdex"),
    ],
)
def test_every_latest_number_is_on_its_card(doc: dict[str, Any]) -> None:
    root = parse(render_report(history([VOICE_PAGING, CHAT_HEALTHY, DESKTOP_DEGRADED])))
    text = card_of(root, doc).text()
    for expected in expected_texts(doc):
        assert expected in text, f"{expected!r} missing from the card of {doc['name']}"
    assert "11.1" not in text
    assert "1.1%" not in text, "an older snapshot's budget leaked onto the card"


@pytest.mark.parametrize(
    ("doc", "state", "score_color"),
    [
        pytest.param(VOICE_PAGING, "page", "#f97316", id="paging-score-58-is-poor"),
        pytest.param(CHAT_HEALTHY, "healthy", "#22c55e", id="healthy-score-99.6-is-good"),
        pytest.param(DESKTOP_DEGRADED, "degraded", "#eab308", id="degraded-score-81.5-is-fair"),
    ],
)
def test_card_colours_follow_state_and_score_band(
    doc: dict[str, Any], state: str, score_color: str
) -> None:
    root = parse(render_report(history([VOICE_PAGING, CHAT_HEALTHY, DESKTOP_DEGRADED])))
    card = card_of(root, doc)
    assert state in [p.text() for p in card.find_all("span", class_="pill")]
    score = card.find_all("div", class_="score")[0]
    assert score_color in score.attrs["style"]
    assert score.find_all("span", class_="big")[0].text() == f"{doc['score']:.0f}"


def test_cards_put_the_worst_journey_first() -> None:
    root = parse(render_report(history([CHAT_HEALTHY, DESKTOP_DEGRADED, VOICE_PAGING])))
    order = [a.attrs["data-series"] for a in root.find_all("article")]
    assert order == [fmt.series_key(d) for d in (VOICE_PAGING, DESKTOP_DEGRADED, CHAT_HEALTHY)]


def test_header_counts_journeys_and_names_the_page() -> None:
    root = parse(render_report(history([VOICE_PAGING, CHAT_HEALTHY, DESKTOP_DEGRADED])))
    header = root.find_all("header", class_="top")[0].text()
    assert "PAGE firing: voice-inbound @ lab" in header
    assert re.search(r"3 journeys 1 healthy 2 degraded", header), header


def test_all_healthy_says_so() -> None:
    root = parse(render_report(history([CHAT_HEALTHY])))
    assert "All journeys healthy" in root.find_all("header", class_="top")[0].text()


def test_since_when_is_the_first_snapshot_of_the_current_state() -> None:
    earlier = [copy.deepcopy(CHAT_HEALTHY) for _ in range(5)]
    later = [copy.deepcopy(VOICE_PAGING | {"name": "web-chat", "type": "chat"}) for _ in range(3)]
    data = ReportData("t", T0 + 8, 1.0, [(T0 + i, [d]) for i, d in enumerate(earlier + later)])
    text = parse(render_report(data)).find_all("article")[0].text()
    assert "paging since 10:00:05 UTC" in text
    assert "for 2s" in text


# --- self-contained ----------------------------------------------------------------------


def test_page_fetches_nothing() -> None:
    data = history([VOICE_PAGING, CHAT_HEALTHY], alerts=ALERTS, worst_runs=RUNS, notes=NOTES)
    page = render_report(data, live=True)
    root = parse(page)
    for node in root.walk():
        for name in ("src", "href", "xlink:href", "action", "data"):
            assert name not in node.attrs, f"<{node.tag} {name}=…> loads something"
    assert "://" not in page
    assert not re.search(r"url\(|@import|<link|<iframe|<img", page)
    assert [n.tag for n in root.walk() if n.tag == "style"] == ["style"]


def test_live_page_refreshes_itself_and_a_saved_report_has_no_script() -> None:
    data = history([CHAT_HEALTHY])
    assert "<script" not in render_report(data)
    script = parse(render_report(data, live=True)).find_all("script")
    assert len(script) == 1
    assert "fetch(location.href" in script[0].text()


def test_names_from_telemetry_are_escaped() -> None:
    hostile = document("<script>alert(1)</script>", failingStep='"><b>x')
    page = render_report(history([hostile]))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


# --- charts ------------------------------------------------------------------------------


def points_of(path: Node) -> int:
    return len(re.findall(r"[ML]", path.attrs["d"]))


def test_chart_lines_have_a_point_for_every_snapshot() -> None:
    count = 37
    data = history([VOICE_PAGING, CHAT_HEALTHY], count=count)
    root = parse(render_report(data))
    for doc in (VOICE_PAGING, CHAT_HEALTHY):
        key = fmt.series_key(doc)
        for series in (key, f"{key} 1h", f"{key} 5m"):
            paths = root.find_all("path", data_series=series)
            assert len(paths) == 1, series
            assert points_of(paths[0]) == count, series
    for direction in ("outbound", "inbound"):
        path = root.find_all("path", data_series=f"{fmt.series_key(VOICE_PAGING)} {direction}")
        assert points_of(path[0]) == count
    assert not root.find_all("path", data_series=f"{fmt.series_key(CHAT_HEALTHY)} outbound")


def test_a_missing_snapshot_leaves_a_gap_in_the_line() -> None:
    snapshots = [(T0 + i, [copy.deepcopy(CHAT_HEALTHY)]) for i in range(6)]
    snapshots[3] = (T0 + 3, [])
    snapshots.append((T0 + 6, [copy.deepcopy(DESKTOP_DEGRADED), copy.deepcopy(CHAT_HEALTHY)]))
    root = parse(render_report(ReportData("t", T0 + 7, 1.0, snapshots)))
    path = root.find_all("path", data_series=fmt.series_key(CHAT_HEALTHY))[0]
    assert path.attrs["d"].count("M") == 2
    assert points_of(path) == 6


def test_attribution_stacks_the_layers_of_bad_runs() -> None:
    root = parse(render_report(history([VOICE_PAGING, CHAT_HEALTHY], count=9)))
    svg = root.find_all("svg", aria_label=f"attribution {fmt.series_key(VOICE_PAGING)}")[0]
    layers = {p.attrs["data-series"]: points_of(p) for p in svg.find_all("path")}
    assert layers == {"endpoint": 18, "network": 18}, "top and bottom edge, 9 points each"
    quiet = root.find_all("svg", aria_label=f"attribution {fmt.series_key(CHAT_HEALTHY)}")[0]
    assert "no bad runs" in quiet.text()


def test_page_thresholds_and_mos_reference_lines_are_drawn() -> None:
    text = parse(render_report(history([VOICE_PAGING]))).text()
    for label in (
        "page 14.4× (1h & 5m)",
        "page 6× (6h & 30m)",
        "3.6 acceptable (R 70)",
        "some users dissatisfied",
    ):
        assert label in text


NOTES = [(T0 + 2, "voice path gains 30 ms jitter and 5 % loss"), (T0 + 8, "recovered")]


def test_notes_are_listed_and_marked_on_every_time_chart() -> None:
    root = parse(render_report(history([VOICE_PAGING, CHAT_HEALTHY], notes=NOTES, alerts=ALERTS)))
    assert "voice path gains 30 ms jitter and 5 % loss" in root.find_all("ol")[0].text()
    charts_with_time = [s for s in root.find_all("svg", class_="chart")]
    assert len(charts_with_time) == 6  # score, burn, MOS, two attributions, alert timeline
    for svg in charts_with_time:
        tags = [g.text() for g in svg.find_all("g", class_="marker")]
        assert tags == ["1", "2"], svg.attrs["aria-label"]


ALERTS = [
    {
        "t": T0 + 2,
        "journey": "cc/voice-inbound",
        "location": "lab",
        "severity": "page",
        "state": "fired",
        "layer": "network",
        "step": "voice-path",
        "traceId": "ab",
    },
    {
        "t": T0 + 6,
        "journey": "cc/voice-inbound",
        "location": "lab",
        "severity": "page",
        "state": "resolved",
        "layer": "network",
        "step": "voice-path",
        "traceId": "ab",
    },
    {
        "t": T0 + 4,
        "journey": "cc/voice-inbound",
        "location": "lab",
        "severity": "ticket",
        "state": "fired",
        "layer": "network",
        "step": "voice-path",
        "traceId": "ab",
    },
]


def test_alert_timeline_draws_resolved_and_still_firing_spans() -> None:
    root = parse(render_report(history([VOICE_PAGING], alerts=ALERTS)))
    svg = root.find_all("svg", aria_label="alert timeline")[0]
    bars = [r for r in svg.find_all("rect") if r.attrs.get("fill") in fmt.SEVERITY_COLORS.values()]
    assert sorted(r.attrs["fill"] for r in bars) == sorted(fmt.SEVERITY_COLORS.values())
    arrows = [
        p for p in svg.find_all("path") if p.attrs.get("fill") == fmt.SEVERITY_COLORS["ticket"]
    ]
    assert len(arrows) == 1, "the ticket still fires: its bar ends in an arrow head"
    assert "voice-inbound · lab" in svg.text()


RUNS = [
    {
        "t": T0 + 1,
        "journey": "cc/voice-inbound",
        "location": "lab",
        "outcome": "degraded",
        "step": "voice-path",
        "layer": "network",
        "traceId": "d" * 32,
        "durationMs": 9120.4,
    },
    {
        "t": T0 + 2,
        "journey": "cc/voice-inbound",
        "location": "lab",
        "outcome": "failure",
        "step": "sip-invite",
        "layer": "platform",
        "traceId": "f" * 32,
        "durationMs": 812.0,
    },
]


def test_worst_runs_table_lists_failures_first_with_trace_ids() -> None:
    root = parse(render_report(history([VOICE_PAGING], worst_runs=RUNS)))
    rows = root.find_all("tbody")[0].find_all("tr")
    assert [r.find_all("code")[0].text() for r in rows] == ["f" * 32, "d" * 32]
    assert "9,120 ms" in rows[1].text()


# --- empty and time-compressed reports ---------------------------------------------------


@pytest.mark.parametrize(
    "snapshots",
    [pytest.param([], id="no-snapshots"), pytest.param([(T0, [])], id="no-journeys-yet")],
)
def test_without_telemetry_the_page_says_so(snapshots: list[Any]) -> None:
    root = parse(render_report(ReportData("cxjourney", T0, 1.0, snapshots), live=True))
    assert "No telemetry yet" in root.text()
    assert not root.find_all("svg")
    assert root.find_all("script"), "the live page keeps refreshing until telemetry arrives"


@pytest.mark.parametrize(
    ("scale", "note"),
    [
        pytest.param(1.0, None, id="real-time-says-nothing"),
        pytest.param(60.0, "time compressed 60×: 1 s shown = 1 min of SLO time", id="60x"),
        pytest.param(3600.0, "time compressed 3600×: 1 s shown = 1 h of SLO time", id="3600x"),
    ],
)
def test_time_compression_is_explained(scale: float, note: str | None) -> None:
    text = parse(render_report(history([VOICE_PAGING], time_scale=scale))).text()
    if note is None:
        assert "time compressed" not in text
        assert "SLO time" not in text
    else:
        assert note in text


# --- formats, charts and the JSON form ---------------------------------------------------


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        pytest.param(fmt.score, 87.4, "87", id="score-integer"),
        pytest.param(fmt.score, None, "–", id="score-missing"),
        pytest.param(fmt.score, float("nan"), "–", id="score-nan"),
        pytest.param(fmt.percent, 0.62437, "62.4%", id="budget-one-decimal"),
        pytest.param(fmt.percent, -0.125, "-12.5%", id="budget-overspent-keeps-sign"),
        pytest.param(fmt.burn, 14.449, "14.4×", id="burn-times"),
        pytest.param(fmt.burn, 0, "0.0×", id="burn-zero"),
        pytest.param(fmt.mos, 3.6, "3.60", id="mos-two-decimals"),
        pytest.param(fmt.duration, 42, "42s", id="seconds"),
        pytest.param(fmt.duration, 200, "3m 20s", id="minutes-and-seconds"),
        pytest.param(fmt.duration, 1500, "25m", id="minutes"),
        pytest.param(fmt.duration, 7140, "1h 59m", id="hours"),
        pytest.param(fmt.milliseconds, 1234.6, "1,235 ms", id="milliseconds"),
    ],
)
def test_formats(function: Any, value: Any, expected: str) -> None:
    assert function(value) == expected


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        pytest.param(0.9123, 2.0, "0.91 [2.0]", id="whole-seconds"),
        pytest.param(0.5, 0.25, "0.50 [0.25]", id="quarter-second"),
        pytest.param(None, 1.5, "– [1.5]", id="no-runs"),
    ],
)
def test_apdex_is_written_with_its_threshold(value: Any, threshold: float, expected: str) -> None:
    assert fmt.apdex(value, threshold) == expected


def test_log_scale_draws_zero_burn_at_the_floor_and_keeps_decades_even() -> None:
    frame = axes.Frame(T0, T0 + 10, 0.1, 1000, str, log_y=True, height=334)
    plot = axes.Plot(frame, top=0)
    assert plot.y(0.0) == plot.y(0.1) == plot.bottom
    assert plot.y(1e6) == plot.top
    decades = [plot.y(10.0**e) for e in range(-1, 4)]
    gaps = {round(a - b, 6) for a, b in itertools.pairwise(decades)}
    assert len(gaps) == 1


@pytest.mark.parametrize(
    ("start", "end", "most", "first", "step"),
    [
        pytest.param(T0 + 0.5, T0 + 120, 5, T0 + 30, 30, id="two-minutes-every-30s"),
        pytest.param(T0, T0 + 6 * 3600, 7, T0, 3600, id="six-hours-hourly"),
    ],
)
def test_time_ticks_are_round(
    start: float, end: float, most: int, first: float, step: float
) -> None:
    ticks = axes.time_ticks(start, end, most)
    assert ticks[0] == first
    assert {b - a for a, b in itertools.pairwise(ticks)} == {step}
    assert len(ticks) <= most + 1


def test_json_round_trip_renders_the_same_page() -> None:
    data = history(
        [VOICE_PAGING, CHAT_HEALTHY], alerts=ALERTS, worst_runs=RUNS, notes=NOTES, time_scale=60.0
    )
    again = from_json(json.loads(json.dumps(to_json(data))))
    assert again == data
    assert render_report(again) == render_report(data)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"generatedAt": "now"},
            "report.generatedAt: must be a finite number",
            id="generated-at-not-a-number",
        ),
        pytest.param({"timeScale": 0}, "report.timeScale: must be positive", id="zero-scale"),
        pytest.param(
            {"snapshots": [{"t": 2, "journeys": []}, {"t": 1, "journeys": []}]},
            "report.snapshots[1].t: snapshots must be oldest first",
            id="out-of-order",
        ),
        pytest.param(
            {"snapshots": [{"t": 1, "journeys": [{"name": "x"}]}]},
            "report.snapshots[0].journeys[0].namespace: must be a string",
            id="journey-without-namespace",
        ),
        pytest.param(
            {"notes": [{"t": 1}]}, "report.notes[0].text: must be a string", id="note-without-text"
        ),
    ],
)
def test_bad_json_names_the_field(change: dict[str, Any], message: str) -> None:
    document_ = {"title": "t", "generatedAt": T0, **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        from_json(document_)


@pytest.mark.parametrize(("count", "tail"), [(10, None), (12, "and 2 more")])
def test_the_worst_runs_table_shows_ten_and_counts_the_rest(count: int, tail: str | None) -> None:
    from cxj_processors.report.tables import MAX_TABLE_ROWS, runs_panel

    runs = [
        {"t": 1_900_000_000 + i, "journey": "j", "location": "l", "outcome": "failure",
         "durationMs": 100 + i, "traceId": f"{i:032x}"}
        for i in range(count)
    ]  # fmt: skip
    html = runs_panel(runs)
    assert html.count("<tr>") == 1 + min(count, MAX_TABLE_ROWS)  # the header row and the runs
    assert re.findall(r'<p class="more">([^<]*)</p>', html) == ([tail] if tail else [])
