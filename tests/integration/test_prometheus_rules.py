"""Exported Prometheus rules against the real Prometheus 2.42 (Debian `prometheus`).

`promtool check rules` accepts them, `promtool test rules` proves when the page and ticket
alerts fire for sustained error ratios, and a real Prometheus server scraping a run counter
evaluates them to the burn rates the processor would report.
"""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.processes import REPO, Process, free_port, log_tail, logs_dir
from tests.harness.waiting import wait_for

from cxj_export.prometheus import build_rules_file
from cxj_journey.model import parse_journey

EXAMPLES = REPO / "crds" / "examples"
JOURNEY_EXAMPLES = [
    p
    for p in sorted(EXAMPLES.glob("*.yaml"))
    if yaml.safe_load(p.read_text()).get("kind") == "CxJourney"
]
ALERT = "CxJourneyErrorBudgetBurn"


def tool(name: str) -> str:
    """A binary of the Debian prometheus package; failing (not skipping) when it is missing."""
    found = shutil.which(name)
    assert found, f"{name} not found: apt-get install prometheus (scripts/debian-packages.txt)"
    return found


def export_rules(example: Path, path: Path) -> dict[str, Any]:
    journey = parse_journey(yaml.safe_load(example.read_text()))
    rules = build_rules_file([journey])
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return rules


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("example", JOURNEY_EXAMPLES, ids=[p.stem for p in JOURNEY_EXAMPLES])
def test_promtool_accepts_exported_rules(example: Path, tmp_path: Path) -> None:
    export_rules(example, tmp_path / "rules.yaml")
    result = promtool("check", "rules", "rules.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


# -- promtool unit tests: when do the alerts fire? ---------------------------------------
def _alerts(rules: dict[str, Any], journey: str, severities: list[str]) -> list[dict[str, Any]]:
    group = next(g for g in rules["groups"] if g["name"].endswith(f"{journey}-alerts"))
    by_severity = {r["labels"]["severity"]: r for r in group["rules"]}
    return [
        {
            "exp_labels": {
                "severity": severity,
                "cxj_journey": journey,
                "cxj_namespace": "default",
            },
            "exp_annotations": by_severity[severity]["annotations"],
        }
        for severity in severities
    ]


def _series(journey: str, success: str, failure: str | None) -> list[dict[str, str]]:
    base = f'cx_journey_runs_total{{cx_journey_name="{journey}",cx_location="hq",outcome='
    series = [{"series": base + '"success"}', "values": success}]
    if failure is not None:
        series.append({"series": base + '"failure"}', "values": failure})
    return series


def run_promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    export_rules(EXAMPLES / "minimal.yaml", tmp_path / "rules.yaml")
    unit = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit, sort_keys=False))
    result = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_page_fires_for_a_sustained_error_ratio(tmp_path: Path) -> None:
    rules = build_rules_file(
        [parse_journey(yaml.safe_load((EXAMPLES / "minimal.yaml").read_text()))]
    )
    run_promtool_test(
        tmp_path,
        [
            {
                # Half the runs fail for three hours: 100 times the 0.5 % budget.
                "interval": "1m",
                "input_series": _series("desktop-up", "0+1x180", "0+1x180"),
                "promql_expr_test": [
                    {
                        "expr": 'cxj:slo_burn_rate:ratio{cxj_window="5m"}',
                        "eval_time": "10m",
                        "exp_samples": [
                            {
                                "labels": 'cxj:slo_burn_rate:ratio{cxj_journey="desktop-up",'
                                'cxj_namespace="default",cxj_window="5m"}',
                                "value": 100,
                            }
                        ],
                    }
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": ALERT,
                        "exp_alerts": _alerts(rules, "desktop-up", ["page", "ticket"]),
                    },
                ],
            }
        ],
    )


def test_a_slow_burn_opens_a_ticket_but_does_not_page(tmp_path: Path) -> None:
    rules = build_rules_file(
        [parse_journey(yaml.safe_load((EXAMPLES / "minimal.yaml").read_text()))]
    )
    run_promtool_test(
        tmp_path,
        [
            {
                # 2 % bad runs: 4x the budget, below both page factors (14.4x and 6x), above 3x.
                "interval": "1m",
                "input_series": _series("desktop-up", "0+49x180", "0+1x180"),
                "alert_rule_test": [
                    {
                        "eval_time": "90m",
                        "alertname": ALERT,
                        "exp_alerts": _alerts(rules, "desktop-up", ["ticket"]),
                    },
                ],
            }
        ],
    )


def test_the_page_clears_with_its_short_windows_while_the_ticket_stays(tmp_path: Path) -> None:
    rules = build_rules_file(
        [parse_journey(yaml.safe_load((EXAMPLES / "minimal.yaml").read_text()))]
    )
    run_promtool_test(
        tmp_path,
        [
            {
                # Every run fails for 30 minutes, then every run succeeds.
                "interval": "1m",
                "input_series": _series("desktop-up", "0x30 1+1x120", "0+1x30 30x120"),
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": ALERT,
                        "exp_alerts": _alerts(rules, "desktop-up", ["page", "ticket"]),
                    },
                    {
                        "eval_time": "65m",
                        "alertname": ALERT,
                        "exp_alerts": _alerts(rules, "desktop-up", ["ticket"]),
                    },
                ],
            }
        ],
    )


def test_a_healthy_journey_burns_nothing(tmp_path: Path) -> None:
    run_promtool_test(
        tmp_path,
        [
            {
                # No failure series at all: the error ratio is 0, not absent.
                "interval": "1m",
                "input_series": _series("desktop-up", "0+1x120", None),
                "promql_expr_test": [
                    {
                        "expr": "cxj:sli_error:ratio_rate1h",
                        "eval_time": "60m",
                        "exp_samples": [
                            {
                                "labels": 'cxj:sli_error:ratio_rate1h{cxj_journey="desktop-up",'
                                'cxj_namespace="default",cxj_window="1h"}',
                                "value": 0,
                            }
                        ],
                    }
                ],
                "alert_rule_test": [{"eval_time": "60m", "alertname": ALERT, "exp_alerts": []}],
            }
        ],
    )


# -- a real Prometheus server evaluates them ---------------------------------------------
class RunCounter(http.server.BaseHTTPRequestHandler):
    """Serves the probes' run counter; every scrape adds one good and one failed run."""

    scrapes = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with RunCounter.lock:
            RunCounter.scrapes += 1
            count = RunCounter.scrapes
        body = "".join(
            f'cx_journey_runs_total{{cx_journey_name="desktop-up",cx_location="hq",'
            f'outcome="{outcome}"}} {count}\n'
            for outcome in ("success", "failure")
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Process]]:
    """Prometheus 2.42 scraping a run counter every second, with the exported rules."""
    counter = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), RunCounter)
    threading.Thread(target=counter.serve_forever, daemon=True).start()
    export_rules(EXAMPLES / "minimal.yaml", tmp_path / "rules.yaml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": "probes",
                "static_configs": [{"targets": [f"127.0.0.1:{counter.server_address[1]}"]}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = Process(
        "prometheus",
        [
            tool("prometheus"),
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        logs_dir() / f"prometheus-{tmp_path.name}",
    ).start()
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_until(
            lambda: urllib.request.urlopen(url + "/-/ready", timeout=2).status == 200, 60, "ready"
        )
        yield url, server
    finally:
        server.stop()
        counter.shutdown()
        counter.server_close()


def api(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def test_prometheus_loads_and_evaluates_the_rules(prometheus: tuple[str, Process]) -> None:
    url, server = prometheus

    def rule_health() -> list[dict[str, Any]]:
        return [r for g in api(url, "/api/v1/rules")["groups"] for r in g["rules"]]

    rules = wait_for(
        lambda: (
            [r for r in rule_health() if r["health"] == "ok"] == rule_health() and rule_health()
        ),
        60,
        "every rule evaluated without error",
        lambda: log_tail(server.log_path),
    )
    assert {r["type"] for r in rules} == {"recording", "alerting"}

    def burn_rate() -> float | None:
        result = api(url, '/api/v1/query?query=cxj:slo_burn_rate:ratio{cxj_window="5m"}')["result"]
        return float(result[0]["value"][1]) if result else None

    # Every scrape adds one good and one failed run: an error ratio of 1/2, 100x the budget.
    assert wait_for(
        burn_rate, 60, "burn rate recorded", lambda: log_tail(server.log_path)
    ) == pytest.approx(100)

    def firing() -> set[str]:
        alerts = api(url, "/api/v1/alerts")["alerts"]
        return {a["labels"]["severity"] for a in alerts if a["state"] == "firing"}

    assert wait_for(
        lambda: firing() == {"page", "ticket"} and firing(),
        60,
        "page and ticket firing",
        lambda: log_tail(server.log_path),
    )


def test_time_slices_page_when_every_slice_has_a_failed_run(tmp_path: Path) -> None:
    # voice-call budgets by 5-minute slices that must be 100 % good.
    rules = export_rules(EXAMPLES / "voice-call.yaml", tmp_path / "rules.yaml")
    unit = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series("voice-call", "0+2x120", "0+1x120"),
                "alert_rule_test": [
                    {
                        "eval_time": "30m",
                        "alertname": ALERT,
                        "exp_alerts": _alerts(rules, "voice-call", ["page", "ticket"]),
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": _series("voice-call", "0+2x120", None),
                "promql_expr_test": [
                    {
                        "expr": "cxj:sli_slice:good",
                        "eval_time": "30m",
                        "exp_samples": [
                            {
                                "labels": 'cxj:sli_slice:good{cxj_journey="voice-call",'
                                'cxj_namespace="default"}',
                                "value": 1,
                            }
                        ],
                    }
                ],
                "alert_rule_test": [{"eval_time": "30m", "alertname": ALERT, "exp_alerts": []}],
            },
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(unit, sort_keys=False))
    result = promtool("test", "rules", "test.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
