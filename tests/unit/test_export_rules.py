"""`cxj export`: OpenSLO documents and Prometheus rules from a journey's SLO.

Golden files under tests/golden/export/ are the exact output for the example journeys;
regenerate them after an intended change with CXJ_UPDATE_GOLDEN=1 and review the diff.
Thresholds are checked against docs/scoring.md's table, independently of the code.
"""

from __future__ import annotations

import argparse
import difflib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.processes import REPO

from cxj_export.cli import add_export_parser
from cxj_export.openslo import build_openslo
from cxj_export.prometheus import build_rule_groups
from cxj_export.sli import ExportError, MetricSource, dns_label, runs_selector, timeslice
from cxj_journey.model import Journey, parse_journey

EXAMPLES = REPO / "crds" / "examples"
GOLDEN = REPO / "tests" / "golden" / "export"
UPDATE = os.environ.get("CXJ_UPDATE_GOLDEN") == "1"

# docs/scoring.md: factor = budget share × period / long window.
FACTORS = {
    30: {("page", "1h"): 14.4, ("page", "6h"): 6, ("ticket", "1d"): 3, ("ticket", "3d"): 1},
    28: {
        ("page", "1h"): 13.44,
        ("page", "6h"): 5.6,
        ("ticket", "1d"): 2.8,
        ("ticket", "3d"): 0.9333333333,
    },
    7: {
        ("page", "1h"): 3.36,
        ("page", "6h"): 1.4,
        ("ticket", "1d"): 0.7,
        ("ticket", "3d"): 0.2333333333,
    },
}
SHORT = {"1h": "5m", "6h": "30m", "1d": "2h", "3d": "6h"}


def journey(
    *,
    name: str = "desktop-up",
    period: str = "30d",
    objective: str = "99.5",
    slo: dict[str, Any] | None = None,
    namespace: str = "support",
    interval: str = "60s",
) -> Journey:
    document = {
        "apiVersion": "cxjourney.dev/v1alpha1",
        "kind": "CxJourney",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "agent-desktop",
            "interval": interval,
            "steps": [{"name": "open", "http": {"url": "http://127.0.0.1:18080/"}}],
            "locations": [{"name": "hq"}],
            "slo": {"objective": objective, "period": period, **(slo or {})},
        },
    }
    return parse_journey(document)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="cxj")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.run(args)
    return code


def alert_rules(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    alerts = next(g for g in groups if g["name"].endswith("-alerts"))
    return {rule["labels"]["severity"]: rule for rule in alerts["rules"]}


# -- golden files --------------------------------------------------------------------------
GOLDEN_CASES = [
    ("minimal", "openslo"),
    ("minimal", "prometheus-rules"),
    ("voice-call", "openslo"),
    ("voice-call", "prometheus-rules"),
]


@pytest.mark.parametrize(
    ("example", "kind"), GOLDEN_CASES, ids=[f"{e}-{k}" for e, k in GOLDEN_CASES]
)
def test_export_matches_golden(example: str, kind: str, tmp_path: Path) -> None:
    source = EXAMPLES / f"{example}.yaml"
    out = tmp_path / "out.yaml"
    assert run_cli("export", kind, str(source.relative_to(REPO)), "-o", str(out)) == 0
    text = out.read_text()
    golden = GOLDEN / f"{example}.{kind}.yaml"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with CXJ_UPDATE_GOLDEN=1"
    expected = golden.read_text()
    if text != expected:
        diff = difflib.unified_diff(expected.splitlines(), text.splitlines(), lineterm="")
        pytest.fail(
            f"{golden.name} differs (review, then CXJ_UPDATE_GOLDEN=1):\n" + "\n".join(diff)
        )


# -- the SLO math ------------------------------------------------------------------------
@pytest.mark.parametrize("days", sorted(FACTORS), ids=[f"{d}d" for d in sorted(FACTORS)])
def test_alert_thresholds_follow_the_period(days: int) -> None:
    groups = build_rule_groups(journey(period=f"{days}d", objective="99.9"))
    rules = alert_rules(groups)
    for (severity, long_window), factor in FACTORS[days].items():
        expr = rules[severity]["expr"]
        threshold = f"> ({factor:.10g} * 0.001)"
        assert f"ratio_rate{long_window}{{" in expr
        assert f"ratio_rate{SHORT[long_window]}{{" in expr
        # Both windows of the pair are compared with the same threshold.
        assert expr.count(threshold) == 2, f"{severity} {long_window}: {threshold} in\n{expr}"


@pytest.mark.parametrize("days", sorted(FACTORS), ids=[f"{d}d" for d in sorted(FACTORS)])
def test_openslo_burn_rate_conditions_follow_the_period(days: int) -> None:
    documents = build_openslo(journey(period=f"{days}d"))
    conditions = {
        (c["spec"]["severity"], c["spec"]["condition"]["lookbackWindow"]): c["spec"]["condition"]
        for d in documents
        if d["kind"] == "AlertPolicy"
        for c in d["spec"]["conditions"]
    }
    assert set(conditions) == set(FACTORS[days])
    for key, factor in FACTORS[days].items():
        assert conditions[key]["threshold"] == pytest.approx(factor, rel=1e-9)
        assert conditions[key]["alertAfter"] == SHORT[key[1]]
        assert conditions[key]["kind"] == "burnrate"


def test_every_window_and_the_period_get_an_error_ratio() -> None:
    groups = build_rule_groups(journey(period="28d"))
    sli = next(g for g in groups if g["name"].endswith("-sli"))
    windows = [rule["labels"]["cxj_window"] for rule in sli["rules"]]
    assert windows == ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"]
    assert all(
        r["record"] == f"cxj:sli_error:ratio_rate{r['labels']['cxj_window']}" for r in sli["rules"]
    )


def test_a_period_equal_to_a_window_is_recorded_once() -> None:
    groups = build_rule_groups(journey(period="3d"))
    sli = next(g for g in groups if g["name"].endswith("-sli"))
    records = [r["record"] for r in sli["rules"]]
    assert len(records) == len(set(records))


def test_error_ratio_counts_everything_but_success_as_bad() -> None:
    groups = build_rule_groups(journey())
    sli = next(g for g in groups if g["name"].endswith("-sli"))
    expr = sli["rules"][0]["expr"]
    assert 'cx_journey_runs_total{cx_journey_name="desktop-up",outcome!="success"}[5m]' in expr
    # Without a single bad run there is no bad series: the ratio must be 0, not absent.
    assert "or\n  0 * sum(rate(" in expr


def test_budget_and_burn_rate_records_use_the_objective() -> None:
    groups = build_rule_groups(journey(objective="99.95"))
    meta = {
        (r["record"], r["expr"])
        for r in next(g for g in groups if g["name"].endswith("-meta"))["rules"]
    }
    assert ("cxj:slo_objective:ratio", "vector(0.9995)") in meta
    assert ("cxj:slo_error_budget:ratio", "vector(0.0005)") in meta
    assert any(
        r == "cxj:slo_error_budget_remaining:ratio" and e.endswith("/ 0.0005") for r, e in meta
    )


def test_timeslices_judge_one_slice_per_evaluation() -> None:
    groups = build_rule_groups(
        journey(slo={"budgeting": "timeslices", "timeslice": "10m", "sliceObjective": "95"})
    )
    slices = groups[0]
    assert slices["interval"] == "10m"
    expr = slices["rules"][0]["expr"]
    assert ">= bool 0.949999999" in expr
    # A slice without runs records nothing: it is neither good nor bad.
    assert expr.rstrip().endswith("[10m])) > 0")
    sli = next(g for g in groups if g["name"].endswith("-sli"))
    assert sli["rules"][0]["expr"].startswith("1 - avg_over_time(cxj:sli_slice:good{")


@pytest.mark.parametrize(
    ("length", "expected"), [("20s", "1m"), ("90s", "2m"), ("5m", "5m"), ("2h", "60m")]
)
def test_slice_length_is_rounded_like_the_processor(length: str, expected: str) -> None:
    document = journey(slo={"budgeting": "timeslices", "timeslice": length}, interval="10s")
    assert timeslice(document) == expected


def test_occurrences_journey_has_no_time_slices() -> None:
    with pytest.raises(ExportError, match="budgeting is occurrences"):
        timeslice(journey())


# -- naming and selectors ------------------------------------------------------------------
def test_extra_matchers_narrow_the_selector() -> None:
    source = MetricSource(matchers=(("cx_journey_namespace", "support"), ("job", 'o"tel')))
    selector = runs_selector(journey(), source, "good")
    assert selector == (
        'cx_journey_runs_total{cx_journey_name="desktop-up",cx_journey_namespace="support",'
        'job="o\\"tel",outcome="success"}'
    )


@pytest.mark.parametrize("label", ["1abc", "a-b", ""])
def test_bad_label_names_are_refused(label: str) -> None:
    with pytest.raises(ExportError, match="not a Prometheus label name"):
        MetricSource(matchers=((label, "x"),))


def test_long_names_stay_dns_labels_and_distinct() -> None:
    first, second = (
        dns_label("a" * 60, "page", "1h", "5m"),
        dns_label("a" * 60, "page", "6h", "30m"),
    )
    assert len(first) <= 63
    assert len(second) <= 63
    assert first != second


def test_openslo_targets_carry_no_credentials() -> None:
    documents = build_openslo(
        parse_journey(yaml.safe_load((EXAMPLES / "voice-call.yaml").read_text()))
    )
    text = yaml.safe_dump(documents)
    assert "routing-key" not in text
    assert "webhook-url" not in text
    targets = {
        d["metadata"]["name"]: d["spec"]["target"]
        for d in documents
        if d["kind"] == "AlertNotificationTarget"
    }
    assert targets == {"voice-call-oncall": "pagerduty", "voice-call-noc-channel": "slack"}
    page = next(d for d in documents if d["metadata"]["name"] == "voice-call-page-1h-5m")
    ticket = next(d for d in documents if d["metadata"]["name"] == "voice-call-ticket-1d-2h")
    assert {t["targetRef"] for t in page["spec"]["notificationTargets"]} == set(targets)
    assert {t["targetRef"] for t in ticket["spec"]["notificationTargets"]} == {
        "voice-call-noc-channel"
    }


# -- the command line --------------------------------------------------------------------
def test_invalid_journey_exits_1_with_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: cxjourney.dev/v1alpha1\nkind: CxJourney\nmetadata: {name: x}\n"
        "spec: {type: voice, steps: [], locations: [{name: hq}], slo: {objective: '100'}}\n"
    )
    assert run_cli("export", "openslo", str(bad)) == 1
    assert "bad.yaml document 1" in capsys.readouterr().err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli("export", "prometheus-rules", str(tmp_path / "nope.yaml")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bad_match_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("export", "prometheus-rules", str(EXAMPLES / "minimal.yaml"), "--match", "job")
    assert code == 1
    assert "--match: expected LABEL=VALUE" in capsys.readouterr().err


def test_every_journey_of_a_file_is_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(
        (EXAMPLES / "minimal.yaml").read_text()
        + "\n---\n"
        + (EXAMPLES / "voice-call.yaml").read_text()
    )
    assert run_cli("export", "prometheus-rules", str(both), "--namespace", "support") == 0
    rules = yaml.safe_load(capsys.readouterr().out)
    names = [g["name"] for g in rules["groups"]]
    assert "cxj-support-desktop-up-alerts" in names
    assert "cxj-support-voice-call-alerts" in names
    assert len(names) == len(set(names))


def test_other_kinds_in_a_file_are_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text(
        (EXAMPLES / "conversation-policy.yaml").read_text()
        + "\n---\n"
        + (EXAMPLES / "minimal.yaml").read_text()
    )
    assert run_cli("export", "openslo", str(mixed)) == 0
    captured = capsys.readouterr()
    assert "not a CxJourney" in captured.err
    kinds = [d["kind"] for d in yaml.safe_load_all(captured.out)]
    assert kinds == ["Service", "AlertPolicy", "AlertPolicy", "AlertPolicy", "AlertPolicy", "SLO"]


def test_a_file_without_journeys_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("export", "openslo", str(EXAMPLES / "conversation-policy.yaml")) == 1
    assert "no CxJourney documents found" in capsys.readouterr().err
