"""The HTML report in a real browser: headless Chromium renders it, charts are drawn, not blank.

A two-minute demo history (time compressed 60×) is rendered to a file: healthy, then the voice
path gains jitter and loss, recovers, then the agent desktop's CRM lookup slows down. Chromium
opens it from disk with every network feature off, dumps the DOM and takes a screenshot; the
test reads the screenshot with its own small PNG decoder.

Set CXJ_UPDATE_DOCS_IMAGES=1 to write the screenshot to docs/images/report.png (as a 256-colour
PNG, to keep the docs small).
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.harness.chromium import HEADLESS_FLAGS, read_png
from tests.harness.processes import REPO

from cxj_processors.report import ReportData, render_report
from cxj_processors.report import formats as fmt

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1600, 2400
T0 = 1_767_261_600.0  # 2026-01-01 10:00:00 UTC
SECONDS = 120
NAMESPACE, LOCATION = "contact-center", "lab"
OBJECTIVE = 0.995
RUNS_PER_MINUTE = 4
PAGE_FAST, PAGE_SLOW = fmt.page_factors(30)
WINDOWS = {"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320}
VOICE_DEGRADED, VOICE_RECOVERED, DESKTOP_SLOW = 30, 65, 88
NOTES = [
    (T0 + VOICE_DEGRADED, "voice path gains 30 ms jitter and 5 % loss"),
    (T0 + VOICE_RECOVERED, "voice path impairment removed"),
    (T0 + DESKTOP_SLOW, "agent desktop: CRM lookup slows to 4 s"),
]


# --- a fake but self-consistent demo history ----------------------------------------------


@dataclass
class Journey:
    """One simulated journey: per SLO minute, its share of bad runs and what they look like."""

    name: str
    kind: str
    step: str
    weight_voice: int
    minutes: list[dict[str, Any]]  # one per SLO minute, oldest first (pre-history included)
    alerts: dict[str, bool]


def _minute(t: int, journey: str, rng: random.Random) -> dict[str, Any]:
    """What the runs of one (compressed) SLO minute look like for a journey at second t."""
    voice_bad = journey == "voice-inbound" and VOICE_DEGRADED <= t < VOICE_RECOVERED
    desktop_slow = journey == "agent-desktop" and t >= DESKTOP_SLOW
    blip = journey == "bot-handoff" and t in (50, 51)
    bad = 0.62 if voice_bad else 0.7 if desktop_slow else 0.25 if blip else 0.0
    failed = 0.22 if voice_bad else 0.05 if desktop_slow else 0.0
    layers = (
        {"network": 0.85, "endpoint": 0.15}
        if voice_bad
        else ({"dependency": 0.75, "platform": 0.25} if desktop_slow else {"platform": 1.0})
    )
    return {
        "bad": bad + rng.uniform(0, 0.03) * (bad > 0),
        "failed": failed,
        "apdex": 0.42 + rng.uniform(-0.04, 0.04)
        if desktop_slow
        else 0.97 + rng.uniform(-0.02, 0.02),
        "mos": (3.05 + rng.uniform(-0.1, 0.1), 3.35 + rng.uniform(-0.1, 0.1))
        if voice_bad
        else (4.37 + rng.uniform(-0.02, 0.02), 4.39 + rng.uniform(-0.02, 0.02)),
        "layers": layers if bad else {},
    }


def _availability_points(success: float) -> float:
    burned = (1 - success) / (1 - OBJECTIVE)
    if burned <= 1:
        return 100 - 10 * burned
    return 90 * (1 - math.log(burned) / math.log(1 / (1 - OBJECTIVE)))


def _voice_points(value: float) -> float:
    anchors = ((1.0, 0.0), (2.58, 20.0), (3.10, 40.0), (3.60, 60.0), (4.03, 80.0), (4.34, 100.0))
    for (m0, p0), (m1, p1) in itertools.pairwise(anchors):
        if value <= m1:
            return p0 + (p1 - p0) * (max(value, m0) - m0) / (m1 - m0)
    return 100.0


def _document(j: Journey, now: int, rng: random.Random) -> dict[str, Any]:
    """The status document of a journey after `now` compressed minutes (status.py's shape)."""
    history = j.minutes[: len(j.minutes) - SECONDS + now + 1]
    hour = history[-60:]
    burn = {
        w: sum(m["bad"] for m in history[-n:]) / n / (1 - OBJECTIVE) for w, n in WINDOWS.items()
    }
    page = (burn["1h"] > PAGE_FAST and burn["5m"] > PAGE_FAST) or (
        burn["6h"] > PAGE_SLOW and burn["30m"] > PAGE_SLOW
    )
    ticket = (burn["1d"] > 3 and burn["2h"] > 3) or (burn["3d"] > 1 and burn["6h"] > 1)
    j.alerts = {"page": page, "ticket": ticket}
    bad_total = sum(m["bad"] for m in history)
    budget = 1 - bad_total / (1 - OBJECTIVE) / len(history)
    success = 1 - sum(m["failed"] for m in hour) / len(hour)
    apdex = {
        w: sum(m["apdex"] for m in history[-n:]) / n
        for w, n in (("5m", 5), ("1h", 60), ("1d", 1440))
    }
    parts = [(50, _availability_points(success)), (30, apdex["1h"] * 100)]
    mos_mean = {
        d: sum(m["mos"][i] for m in hour) / 60 for i, d in enumerate(("outbound", "inbound"))
    }
    mos_p10 = {
        d: sorted(m["mos"][i] for m in hour)[5] for i, d in enumerate(("outbound", "inbound"))
    }
    if j.weight_voice:
        parts.append((j.weight_voice, _voice_points(min(mos_mean.values()))))
    score = sum(w * p for w, p in parts) / sum(w for w, _ in parts)
    charged: dict[str, float] = {}
    for m in hour:
        for layer, share in m["layers"].items():
            charged[layer] = charged.get(layer, 0.0) + share * m["bad"]
    total = sum(charged.values())
    attribution = {
        layer: round(charged.get(layer, 0.0) / total, 4) if total else 0.0
        for layer in ("endpoint", "network", "platform", "dependency")
    }
    suspected = max(attribution, key=attribution.__getitem__) if total else "none"
    fastest = max(burn.items(), key=lambda item: item[1])
    voice = j.weight_voice > 0
    return {
        "namespace": NAMESPACE,
        "name": j.name,
        "location": LOCATION,
        "type": j.kind,
        "score": round(score, 1),
        "apdex": {w: round(v, 4) for w, v in apdex.items()},
        "apdexThreshold": 2.0 if j.kind == "agent-desktop" else 1.5,
        "slo": {
            "objective": OBJECTIVE * 100,
            "periodDays": 30,
            "budgeting": "occurrences",
            "attainment": round(1 - bad_total / len(history), 6),
            "budgetRemaining": round(budget, 4),
            "burnRates": {w: round(v, 4) for w, v in burn.items()},
            "fastestBurn": {"rate": round(fastest[1], 4), "window": fastest[0]},
        },
        "alerts": dict(j.alerts),
        "firing": [s for s, on in j.alerts.items() if on],
        "mos": {
            "mean": {d: round(v, 4) if voice else None for d, v in mos_mean.items()},
            "p10": {d: round(v, 4) if voice else None for d, v in mos_p10.items()},
        },
        "attribution": attribution,
        "suspectedLayer": suspected,
        "failingStep": j.step if total else "",
        "exampleTraceId": f"{rng.getrandbits(128):032x}" if total else "",
        "runs": len(history) * RUNS_PER_MINUTE,
    }


def demo_report() -> ReportData:
    """Two minutes of a demo at 60×: healthy, voice degraded, recovery, desktop slow."""
    rng = random.Random(7)
    prehistory = 43_200 - SECONDS  # 30 days of SLO minutes, a little noise spent long ago
    journeys = []
    for name, kind, step, voice in (
        ("voice-inbound", "voice", "voice-path", 20),
        ("web-chat", "chat", "send-message", 0),
        ("agent-desktop", "agent-desktop", "crm-lookup", 0),
        ("bot-handoff", "bot-handoff", "transfer-to-agent", 0),
    ):
        quiet = {"bad": 0.0008, "failed": 0.0, "apdex": 0.97, "mos": (4.38, 4.40), "layers": {}}
        minutes = [quiet] * prehistory + [_minute(t, name, rng) for t in range(SECONDS)]
        journeys.append(Journey(name, kind, step, voice, minutes, {"page": False, "ticket": False}))
    snapshots, alerts, runs = [], [], []
    for now in range(SECONDS):
        docs = []
        for j in journeys:
            before = dict(j.alerts)
            doc = _document(j, now, rng)
            docs.append(doc)
            for severity, on in j.alerts.items():
                if on != before[severity]:
                    alerts.append(
                        {
                            "t": T0 + now,
                            "journey": f"{NAMESPACE}/{j.name}",
                            "location": LOCATION,
                            "severity": severity,
                            "state": "fired" if on else "resolved",
                            "layer": doc["suspectedLayer"],
                            "step": j.step,
                            "traceId": doc["exampleTraceId"],
                        }
                    )
            if j.minutes[-SECONDS + now]["bad"] > 0.3 and now % 4 == 0:
                runs.append(
                    {
                        "t": T0 + now,
                        "journey": f"{NAMESPACE}/{j.name}",
                        "location": LOCATION,
                        "outcome": "failure" if now % 12 == 0 else "degraded",
                        "step": j.step,
                        "layer": doc["suspectedLayer"],
                        "traceId": f"{rng.getrandbits(128):032x}",
                        "durationMs": rng.uniform(4000, 9000),
                    }
                )
        snapshots.append((T0 + now, docs))
    return ReportData(
        "cxjourney demo: contact center lab", T0 + SECONDS - 1, 60.0, snapshots, alerts, runs, NOTES
    )


def write_palette_png(pixels: np.ndarray, path: Path) -> None:
    """Writes RGB pixels as a 256-colour PNG: the most common colours at 5 bits per channel."""
    rgb = pixels[..., :3].astype(np.int32)
    height, width, _ = rgb.shape
    codes = ((rgb[..., 0] >> 3) << 10 | (rgb[..., 1] >> 3) << 5 | rgb[..., 2] >> 3).ravel()
    counts = np.bincount(codes, minlength=1 << 15)
    sums = np.stack([np.bincount(codes, rgb[..., i].ravel(), 1 << 15) for i in range(3)], axis=1)
    palette_codes = np.argsort(counts)[::-1][:256]
    palette = np.round(sums[palette_codes] / np.maximum(counts[palette_codes], 1)[:, None])
    used = np.nonzero(counts)[0]
    centres = np.stack([used >> 10, (used >> 5) & 31, used & 31], axis=1) * 8 + 4
    distance = ((centres[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
    lookup = np.zeros(1 << 15, dtype=np.uint8)
    lookup[used] = np.argmin(distance, axis=1)
    index = lookup[codes].reshape(height, width)
    raw = b"".join(b"\0" + row.tobytes() for row in index)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + chunk(b"PLTE", palette.astype(np.uint8).tobytes())
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# --- the browser ---------------------------------------------------------------------------

# Writes each plot area's page box onto its element (attributes only: the layout is unchanged),
# so the dumped DOM says where the screenshot's charts are.
MEASURE = """<script>
for (const r of document.querySelectorAll("rect.plot")) {
  const b = r.getBoundingClientRect(), svg = r.closest("svg");
  r.setAttribute("data-box", [b.left + scrollX, b.top + scrollY, b.width, b.height]
    .map(Math.round).join(","));
  r.setAttribute("data-chart", svg.getAttribute("aria-label"));
}
</script>"""


def chromium(tmp: Path, page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Runs headless Chromium on a local file with every network feature off."""
    return subprocess.run(
        [
            str(CHROMIUM),
            *HEADLESS_FLAGS,
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@dataclass(frozen=True)
class Rendered:
    data: ReportData
    dom: str
    pixels: np.ndarray
    png: Path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    tmp = tmp_path_factory.mktemp("report")
    data = demo_report()
    page = tmp / "report.html"
    page.write_text(render_report(data).replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = chromium(tmp, page, "--dump-dom").stdout
    png = tmp / "report.png"
    chromium(tmp, page, f"--screenshot={png}")
    pixels = read_png(png.read_bytes())
    if os.environ.get("CXJ_UPDATE_DOCS_IMAGES") == "1":
        target = REPO / "docs" / "images" / "report.png"
        target.parent.mkdir(exist_ok=True)
        write_palette_png(pixels, target)
        assert target.stat().st_size < 500_000, f"{target} is {target.stat().st_size} bytes"
    return Rendered(data, dom, pixels, png)


def test_chromium_shows_every_journey_with_its_latest_numbers(rendered: Rendered) -> None:
    text = re.sub(r"<[^>]+>", " ", rendered.dom)
    for doc in rendered.data.snapshots[-1][1]:
        slo = doc["slo"]
        expected = [
            doc["name"],
            fmt.score(doc["score"]),
            fmt.percent(slo["budgetRemaining"]),
            fmt.burn(slo["fastestBurn"]["rate"]),
            fmt.percent(slo["attainment"], 2),
            fmt.apdex(doc["apdex"]["1h"], doc["apdexThreshold"]),
        ]
        if doc["mos"]["mean"]["outbound"] is not None:
            expected += [
                fmt.mos(doc["mos"]["mean"]["outbound"]),
                fmt.mos(doc["mos"]["mean"]["inbound"]),
            ]
        card = re.search(
            rf'<article[^>]*data-series="{re.escape(fmt.series_key(doc))}".*?</article>',
            rendered.dom,
            re.S,
        )
        assert card is not None, f"no card for {doc['name']}"
        card_text = re.sub(r"<[^>]+>", " ", card.group(0))
        for value in expected:
            assert value in card_text, f"{doc['name']}: {value!r} missing from its card"
    assert "PAGE firing: agent-desktop @ lab" in text
    assert "time compressed 60×" in text


def _plot_boxes(dom: str) -> dict[str, tuple[int, int, int, int]]:
    boxes = {}
    for element in re.findall(r"<rect[^>]*class=\"plot\"[^>]*>", dom):
        box = re.search(r'data-box="([\d,.-]+)"', element)
        chart = re.search(r'data-chart="([^"]*)"', element)
        assert box is not None, element
        assert chart is not None, element
        x, y, w, h = (int(v) for v in box.group(1).split(","))
        boxes[chart.group(1)] = (x, y, w, h)
    return boxes


def _series(name: str) -> str:
    return f"{NAMESPACE}/{name}@{LOCATION}"


def _stroke(dom: str, series: str) -> str:
    path = re.search(rf'<path[^>]*data-series="{re.escape(series)}"[^>]*>', dom)
    assert path is not None, f"no path for {series}"
    colour = re.search(r'(?:stroke|fill)="(#[0-9a-f]{6})"', path.group(0))
    assert colour is not None, path.group(0)
    return colour.group(1)


def _ink(area: np.ndarray, colour: str) -> int:
    """Pixels of (nearly) this colour: the core of a line or the inside of an area."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(area - rgb).max(axis=2) <= 24).sum())


def test_charts_draw_the_journeys_that_moved(rendered: Rendered) -> None:
    dom, boxes = rendered.dom, _plot_boxes(rendered.dom)
    voice, desktop, bot = _series("voice-inbound"), _series("agent-desktop"), _series("bot-handoff")
    expected = {
        "experience score": [_stroke(dom, voice), _stroke(dom, desktop)],
        "burn rate": [_stroke(dom, f"{s} 1h") for s in (voice, desktop, bot)],
        "voice MOS": [_stroke(dom, f"{voice} outbound")],
        f"attribution {voice}": [fmt.LAYER_COLORS["network"], fmt.LAYER_COLORS["endpoint"]],
        f"attribution {desktop}": [fmt.LAYER_COLORS["dependency"], fmt.LAYER_COLORS["platform"]],
        "alert timeline": list(fmt.SEVERITY_COLORS.values()),
    }
    image = rendered.pixels[..., :3].astype(np.int16)
    for chart, colours in expected.items():
        x, y, w, h = boxes[chart]
        assert w > 200, (chart, boxes[chart])
        assert h > 80, (chart, boxes[chart])
        assert y + h <= image.shape[0], f"{chart} is below the fold of {HEIGHT} px"
        area = image[y : y + h, x : x + w]
        for colour in colours:
            assert _ink(area, colour) > 150, f"{chart}: nothing drawn in {colour}"
        distinct = len(np.unique(area.reshape(-1, 3), axis=0))
        assert distinct > 100, f"{chart}: {distinct} distinct colours, looks blank"


def test_quiet_journeys_say_so_instead_of_an_empty_chart(rendered: Rendered) -> None:
    box = _plot_boxes(rendered.dom)[f"attribution {NAMESPACE}/web-chat@{LOCATION}"]
    x, y, w, h = box
    area = rendered.pixels[y : y + h, x : x + w, :3].astype(np.int16)
    assert float((area.max(axis=2) - area.min(axis=2) > 80).mean()) < 0.001
    assert "no bad runs" in rendered.dom


def test_screenshot_is_the_whole_dark_page(rendered: Rendered) -> None:
    height, width, _ = rendered.pixels.shape
    assert (width, height) == (WIDTH, HEIGHT)
    background = rendered.pixels[5, 5, :3].tolist()
    assert max(background) < 40, f"page background is not dark: {background}"
    assert rendered.png.stat().st_size < 2_000_000
