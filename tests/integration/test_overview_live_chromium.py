"""The processor's live overview at / in headless Chromium, fed by real probe runs.

A processor (the service `cxj processor` runs) receives OTLP/gRPC from the real probe run loop
running the demo's four example journeys against the simulated contact center. After three
healthy runs of every journey the voice path gains jitter and loss and the agent desktop's
server slows down; three runs later the probes stop and flush. Chromium, driven through
chromedriver's WebDriver endpoint, then loads http://<status address>/ as a wall screen would.
The numbers on every card must be the status API's, read just before and just after the page
loaded (and equal to each other, so the page saw the same moment); every chart must have ink
in the colours of the journeys that moved; and when the processor stops, the page must say its
numbers are stale instead of passing them off as live.

The 1920×1080 screenshot (what a wall display shows) is kept as overview-live.png in the test
logs folder (CXJ_TEST_LOGS, else .test-logs/).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from tests.harness.chromium import HEADLESS_FLAGS, read_png
from tests.harness.processes import Process, free_port, logs_dir

from cxj_journey.model import Journey
from cxj_probe.cli import run_probe
from cxj_probe.contract import resource_attributes
from cxj_probe.otel import Telemetry, build_telemetry
from cxj_probe.runner import RunResult
from cxj_probe.steps.registry import EXECUTORS
from cxj_processors.config import ProcessorConfig
from cxj_processors.report import formats as fmt
from cxj_processors.service import ProcessorService
from cxj_standalone.demo import demo_journeys, demo_secrets, free_stack_ports
from cxj_standalone.stack import ContactCenterStack, Impairment

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/lib/chromium/chromium"  # the binary behind Debian's /usr/bin/chromium wrapper
WALL = (1920, 1080)
LOCATION = "wall"
HEALTHY_RUNS, FAULTY_RUNS = 3, 3
BAD_VOICE_PATH = Impairment(delay_ms=60.0, jitter_ms=30.0, loss_pct=8.0, burst_length=3.0, seed=7)
SLOW_DESKTOP_S = 2.5
MOVED = ("voice-call", "agent-desktop")

# Warm, the module takes about 40 s; the first processor start after the kernels change
# compiles them, which took over five minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)


# --- feeding the processor real runs -----------------------------------------------------------


async def feed(grpc_endpoint: str) -> Counter[str]:
    """Runs the example journeys against a fresh stack until each has done its runs."""
    ports = free_stack_ports()
    journeys = demo_journeys("http://127.0.0.1:9/alerts-unused", ports.replacements())
    runs: Counter[str] = Counter()
    stop = asyncio.Event()

    def telemetry_for(journey: Journey, site: str) -> Telemetry:
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=grpc_endpoint, insecure=True), export_interval_millis=5000
        )
        return build_telemetry(
            resource_attributes(journey, site, {}),
            span_exporter=OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True),
            metric_reader=reader,
        )

    async with ContactCenterStack(ports) as stack:

        def counted(_: RunResult, journey: Journey) -> None:
            runs[journey.name] += 1
            fewest = min(runs[j.name] for j in journeys)
            if fewest == HEALTHY_RUNS and stack.fault_summary() == "none":
                stack.set_voice_impairment(BAD_VOICE_PATH)
                stack.set_desktop_delay(SLOW_DESKTOP_S)
            if fewest >= HEALTHY_RUNS + FAULTY_RUNS:
                stop.set()

        await run_probe(
            journeys,
            LOCATION,
            once=False,
            executors=EXECUTORS,
            telemetry_for=telemetry_for,
            secrets=demo_secrets,
            stop=stop,
            on_result=counted,
        )  # returns once every journey's telemetry is flushed to the processor
    return runs


def status(service: ProcessorService) -> list[dict[str, Any]]:
    url = f"http://{service.config.status_listen}/api/v1/journeys"
    with urllib.request.urlopen(url, timeout=5) as response:
        documents: list[dict[str, Any]] = json.load(response)["journeys"]
    return sorted(documents, key=fmt.series_key)


def wait_for_runs(service: ProcessorService, runs: Counter[str], timeout: float = 30.0) -> None:
    """Waits until an evaluation has counted every run the probes made."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = {d["name"]: d["runs"] for d in status(service)}
        if seen == dict(runs):
            return
        time.sleep(service.config.evaluation_interval_s / 2)
    raise AssertionError(f"the status API shows runs {seen}, the probes made {dict(runs)}")


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessorService]:
    config = ProcessorConfig(
        grpc_listen=f"127.0.0.1:{free_port()}",
        http_listen=f"127.0.0.1:{free_port()}",
        status_listen=f"127.0.0.1:{free_port()}",
        data_dir=str(tmp_path_factory.mktemp("processor")),
        evaluation_interval_s=0.5,
        checkpoint_interval_s=3600,
    )
    service = ProcessorService(config).start()
    try:
        wait_for_runs(service, asyncio.run(feed(config.grpc_listen)))
        yield service
    finally:
        service.stop()


# --- a minimal W3C WebDriver client ------------------------------------------------------------


class Browser:
    """One headless Chromium session through chromedriver: load, run script, screenshot."""

    def __init__(self, port: int, profile: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        options = {
            "binary": CHROMIUM,
            "args": [*HEADLESS_FLAGS, f"--user-data-dir={profile}"],
        }
        capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
        session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = f"/session/{session['sessionId']}"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.load(response)["value"]
        except urllib.error.HTTPError as error:  # WebDriver errors say what went wrong
            raise AssertionError(f"{method} {path}: {error.read().decode()[:2000]}") from None

    def viewport(self, width: int, height: int) -> None:
        """Sets the page's viewport to exactly this size (a window size includes its frame)."""
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self._call(
            "POST",
            f"{self.session}/goog/cdp/execute",
            {"cmd": "Emulation.setDeviceMetricsOverride", "params": metrics},
        )

    def open(self, url: str) -> None:
        """Navigates and returns once the page has loaded."""
        self._call("POST", f"{self.session}/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Runs a function body in the page and returns what it returns."""
        return self._call(
            "POST", f"{self.session}/execute/sync", {"script": script, "args": list(args)}
        )

    def wait_for(self, script: str, timeout_s: float) -> Any:
        """Runs an asynchronous script (its last argument is the callback) and awaits its answer."""
        self._call("POST", f"{self.session}/timeouts", {"script": round(timeout_s * 1000)})
        return self._call("POST", f"{self.session}/execute/async", {"script": script, "args": []})

    def screenshot(self) -> bytes:
        """The viewport as PNG."""
        return base64.b64decode(self._call("GET", f"{self.session}/screenshot"))

    def close(self) -> None:
        """Ends the session (and its Chromium)."""
        self._call("DELETE", self.session)


def driver_ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        return bool(json.load(response)["value"]["ready"])


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    port = free_port()
    driver = Process("chromedriver", [CHROMEDRIVER, f"--port={port}"], logs_dir()).start()
    try:
        driver.wait_until(lambda: driver_ready(port), timeout=30, what="ready")
        session = Browser(port, tmp_path / "profile")
        try:
            yield session
        finally:
            session.close()
    finally:
        driver.stop()


# --- what the page shows -----------------------------------------------------------------------

# Each card's text by series, the verdict, the tables, every chart's plot box and series
# colours, and any label of a chart printed over another or cut off at the chart's edge.
READ_PAGE = """
const cards = {};
for (const card of document.querySelectorAll("article.card")) {
  cards[card.dataset.series] = card.innerText;
}
const charts = {};
for (const plot of document.querySelectorAll("rect.plot")) {
  const box = plot.getBoundingClientRect(), svg = plot.closest("svg");
  charts[svg.getAttribute("aria-label")] = [box.left + scrollX, box.top + scrollY,
    box.width, box.height].map(Math.round);
}
const strokes = {};
for (const path of document.querySelectorAll("path[data-series]")) {
  strokes[path.dataset.series] = path.getAttribute("stroke") || path.getAttribute("fill");
}
const overlaps = [];
for (const svg of document.querySelectorAll("svg[aria-label]")) {
  const labels = [...svg.querySelectorAll("text")].filter(t => t.textContent.trim())
    .map(t => [t.textContent, t.getBoundingClientRect()]);
  const edge = svg.getBoundingClientRect();
  for (const [a, p] of labels) {
    if (p.left < edge.left - 1 || p.right > edge.right + 1) overlaps.push(`cut off: ${a}`);
  }
  labels.forEach(([a, p], i) => labels.slice(i + 1).forEach(([b, q]) => {
    const across = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const down = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (across > 2 && down > 2) overlaps.push(`${svg.getAttribute("aria-label")}: ${a} / ${b}`);
  }));
}
return {cards, charts, strokes, overlaps, verdict: document.querySelector(".verdict").innerText,
  tables: [...document.querySelectorAll("table")].map(t => t.innerText).join("\\n"),
  height: document.documentElement.scrollHeight};
"""


# Answers once the page marks itself stale (its refresh failed): awaited, not polled.
STALE = """
const done = arguments[arguments.length - 1], body = document.body;
if (body.hasAttribute("data-stale")) return done(true);
new MutationObserver((_, observer) => {
  if (body.hasAttribute("data-stale")) { observer.disconnect(); done(true); }
}).observe(body, {attributes: true});
"""


def expected_on_card(doc: dict[str, Any]) -> list[str]:
    """The status document's numbers as the page must write them."""
    slo = doc["slo"]
    shown = [
        doc["name"],
        fmt.score(doc["score"]),
        fmt.apdex(doc["apdex"]["1h"], doc["apdexThreshold"]),
        fmt.percent(slo["attainment"], 2),
        fmt.percent(slo["budgetRemaining"]),
        fmt.burn(slo["fastestBurn"]["rate"]),
        *doc["firing"],
    ]
    if doc["suspectedLayer"] != "none":
        shown += [doc["suspectedLayer"], doc["failingStep"], doc["exampleTraceId"]]
    for direction in ("outbound", "inbound"):
        if doc["mos"]["mean"][direction] is not None:
            shown += [fmt.mos(doc["mos"]["mean"][direction]), fmt.mos(doc["mos"]["p10"][direction])]
    return shown


def same_moment(
    browser: Browser, service: ProcessorService, url: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Loads the page between two identical status answers; returns both views of that moment."""
    for _ in range(5):
        before = status(service)
        browser.open(url)
        page: dict[str, Any] = browser.run(READ_PAGE)
        if status(service) == before:
            return before, page
    raise AssertionError("the status API kept changing although no run arrived")


def ink(area: np.ndarray, colour: str) -> int:
    """Pixels of (nearly) this colour: the core of a line or the inside of an area."""
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(area - rgb).max(axis=2) <= 24).sum())


def test_live_overview_matches_the_status_api_and_draws_its_charts(
    processor: ProcessorService, browser: Browser
) -> None:
    url = f"http://{processor.config.status_listen}/"
    browser.viewport(*WALL)
    documents, page = same_moment(browser, processor, url)
    wall = logs_dir() / "overview-live.png"
    wall.parent.mkdir(parents=True, exist_ok=True)
    wall.write_bytes(browser.screenshot())

    assert len(documents) == 4
    assert sorted(page["cards"]) == [fmt.series_key(d) for d in documents]
    for doc in documents:
        card = page["cards"][fmt.series_key(doc)]
        for value in expected_on_card(doc):
            # innerText is what is shown: pills and layer chips are upper-cased by the style
            assert value.casefold() in card.casefold(), f"{doc['name']}: {value!r} not in:\n{card}"
    by_name = {d["name"]: d for d in documents}
    voice, desktop = by_name["voice-call"], by_name["agent-desktop"]
    assert "page" in voice["firing"]
    assert (voice["suspectedLayer"], voice["failingStep"]) == ("network", "media-path")
    assert voice["mos"]["mean"]["inbound"] < 3.6 < voice["mos"]["mean"]["outbound"]
    assert "page" in desktop["firing"]
    assert (desktop["suspectedLayer"], desktop["failingStep"]) == ("platform", "load-desktop")
    assert page["verdict"].startswith("PAGE firing:")
    for name in MOVED:
        assert f"{name} @ {LOCATION}" in page["verdict"]
    for name in ("chat-escalation", "bot-handoff"):
        assert by_name[name]["firing"] == []
    for name in MOVED:  # the live stand-in for the worst runs lists their example traces
        assert by_name[name]["exampleTraceId"] in page["tables"]
    assert page["overlaps"] == []

    browser.viewport(WALL[0], page["height"])
    whole = browser.screenshot()
    (logs_dir() / "overview-live-full.png").write_bytes(whole)
    pixels = read_png(whole)[..., :3].astype(np.int16)
    key = {name: fmt.series_key(by_name[name]) for name in by_name}
    expected = {
        # the desktop's score stays 100 (its runs are slow, not failed, and within Apdex T),
        # under the healthy journeys' lines: only the voice line must show
        "experience score": [page["strokes"][key["voice-call"]]],
        "burn rate": [page["strokes"][f"{key[n]} 1h"] for n in MOVED],
        "voice MOS": [page["strokes"][f"{key['voice-call']} {d}"] for d in ("outbound", "inbound")],
        f"attribution {key['voice-call']}": [fmt.LAYER_COLORS["network"]],
        f"attribution {key['agent-desktop']}": [fmt.LAYER_COLORS["platform"]],
        "alert timeline": [fmt.SEVERITY_COLORS["page"]],
    }
    for chart, colours in expected.items():
        x, y, w, h = page["charts"][chart]
        assert w > 200, (chart, page["charts"][chart])
        assert h > 60, (chart, page["charts"][chart])
        area = pixels[y : y + h, x : x + w]
        for colour in colours:
            assert ink(area, colour) > 100, f"{chart}: nothing drawn in {colour}"


def test_live_overview_says_its_numbers_are_stale_when_the_processor_stops(
    tmp_path: Path, browser: Browser
) -> None:
    config = ProcessorConfig(
        grpc_listen=f"127.0.0.1:{free_port()}",
        http_listen=f"127.0.0.1:{free_port()}",
        status_listen=f"127.0.0.1:{free_port()}",
        evaluation_interval_s=0.5,
    )
    service = ProcessorService(config).start()
    try:
        browser.open(f"http://{config.status_listen}/")
        assert "No telemetry yet" in browser.run("return document.body.innerText")
        assert not browser.run("return document.body.hasAttribute('data-stale')")
    finally:
        service.stop()
    assert browser.wait_for(STALE, timeout_s=30), "the page never said the processor stopped"
    bar = browser.run("return getComputedStyle(document.querySelector('.stale')).display")
    assert bar == "block"
    assert "No telemetry yet" in browser.run("return document.body.innerText")
