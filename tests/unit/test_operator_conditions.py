"""Condition bookkeeping and the Ready/Progressing/Degraded decision from probe rollouts."""

from __future__ import annotations

from typing import Any

import pytest

from cxj_operator import conditions as cond
from cxj_operator.readiness import (
    FAILED,
    HONOURED,
    INVALID,
    ProbeFacts,
    Verdict,
    location_entries,
    probe_facts,
    workload_conditions,
    workload_status,
)

UID = "uid-1"
T0, T1 = "2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"


# -- lastTransitionTime moves only on a flip ----------------------------------------------
def _entry(status: str, reason: str = "R", message: str = "m", since: str = T0) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 1,
        "lastTransitionTime": since,
    }


@pytest.mark.parametrize(
    ("previous", "decided", "since"),
    [
        pytest.param(None, cond.Condition("Ready", "True", "R", "m"), T1, id="new-type-starts-now"),
        pytest.param(
            [_entry("True")],
            cond.Condition("Ready", "True", "R", "m"),
            T0,
            id="same-status-keeps-time",
        ),
        pytest.param(
            [_entry("True")],
            cond.Condition("Ready", "True", "Other", "another message"),
            T0,
            id="reason-or-message-change-is-no-flip",
        ),
        pytest.param(
            [_entry("True")], cond.Condition("Ready", "False", "R", "m"), T1, id="flip-moves-time"
        ),
        pytest.param(
            [_entry("Unknown")],
            cond.Condition("Ready", "False", "R", "m"),
            T1,
            id="unknown-to-false",
        ),
    ],
)
def test_last_transition_time_changes_only_on_a_flip(
    previous: list[dict[str, Any]] | None, decided: cond.Condition, since: str
) -> None:
    (entry,) = cond.merge(previous, [decided], generation=2, now=T1)
    assert entry["lastTransitionTime"] == since
    assert entry["observedGeneration"] == 2
    assert (entry["status"], entry["reason"], entry["message"]) == (
        decided.status,
        decided.reason,
        decided.message,
    )


def test_merge_returns_only_the_decided_types() -> None:
    previous = [_entry("True"), {**_entry("True"), "type": "ExperienceDegraded"}]
    merged = cond.merge(previous, [cond.Condition("Ready", "False", "R", "m")], 1, T1)
    assert [c["type"] for c in merged] == ["Ready"]


def test_flipped_to_and_same_decision() -> None:
    before = [_entry("False")]
    after = cond.merge(before, [cond.Condition("Ready", "True", "R", "m")], 1, T1)
    assert cond.flipped_to(before, after, "Ready", "True")
    assert not cond.flipped_to(after, after, "Ready", "True")
    assert cond.flipped_to(None, after, "Ready", "True")
    assert cond.same_decision(
        after, cond.merge(after, [cond.Condition("Ready", "True", "R", "m")], 1, T1)
    )
    assert not cond.same_decision(
        after, cond.merge(after, [cond.Condition("Ready", "True", "R", "x")], 1, T1)
    )


# -- probe rollouts → conditions ----------------------------------------------------------
def facts(
    location: str = "hq",
    *,
    desired: int = 1,
    ready: int = 1,
    updated: int | None = None,
    replicas: int | None = None,
    generation: int = 1,
    observed: int = 1,
    stalled: bool = False,
    owner: str = UID,
) -> ProbeFacts:
    return ProbeFacts(
        location=location,
        name=f"journey-probe-{location}",
        uid=f"deployment-{location}",
        owner_uid=owner,
        desired=desired,
        generation=generation,
        observed_generation=observed,
        replicas=desired if replicas is None else replicas,
        updated=desired if updated is None else updated,
        ready=ready,
        stalled=stalled,
    )


def honoured(*locations: tuple[str, int]) -> Verdict:
    return Verdict(3, UID, HONOURED, "", tuple(locations) or (("hq", 1),))


def decided(verdict: Verdict, *probes: ProbeFacts) -> dict[str, tuple[str, str]]:
    found = workload_conditions(verdict, {p.location: p for p in probes})
    return {c.type: (c.status, c.reason) for c in found}


CASES = [
    pytest.param(
        honoured(),
        [facts()],
        {
            "Ready": ("True", "ProbesReady"),
            "Progressing": ("False", "RolloutComplete"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="all-ready",
    ),
    pytest.param(
        honoured(),
        [],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("True", "RollingOut"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="not-created-yet",
    ),
    pytest.param(
        honoured(),
        [facts(ready=0)],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("False", "RolloutComplete"),
            "Degraded": ("True", "ProbesUnavailable"),
        },
        id="rolled-out-but-pod-not-ready",
    ),
    pytest.param(
        honoured(),
        [facts(generation=2, observed=1)],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("True", "RollingOut"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="new-template-not-observed-yet",
    ),
    pytest.param(
        honoured(),
        [facts(replicas=2, updated=1)],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("True", "RollingOut"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="old-pod-still-running",
    ),
    pytest.param(
        honoured(),
        [facts(updated=0, ready=0, stalled=True)],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("False", "RolloutComplete"),
            "Degraded": ("True", "ProbesUnavailable"),
        },
        id="rollout-stalled",
    ),
    pytest.param(
        honoured(("hq", 2)),
        [facts(desired=1)],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("False", "RolloutComplete"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="deployment-not-scaled-to-spec-yet",
    ),
    pytest.param(
        honoured(),
        [facts(owner="uid-of-a-deleted-journey")],
        {
            "Ready": ("False", "ProbesNotReady"),
            "Progressing": ("True", "RollingOut"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="someone-elses-deployment-ignored",
    ),
    pytest.param(
        honoured(("hq", 0)),
        [facts(desired=0, ready=0)],
        {
            "Ready": ("True", "ProbesReady"),
            "Progressing": ("False", "RolloutComplete"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="scaled-to-zero-is-ready",
    ),
    pytest.param(
        Verdict(3, UID, INVALID, "Secret x missing", ()),
        [facts()],
        {
            "Ready": ("False", "InvalidSpec"),
            "Progressing": ("False", "InvalidSpec"),
            "Degraded": ("False", "ProbesAvailable"),
        },
        id="invalid-spec-with-good-probes-running",
    ),
    pytest.param(
        Verdict(3, UID, FAILED, "forbidden", (("hq", 1),)),
        [facts(ready=0)],
        {
            "Ready": ("False", "ApplyFailed"),
            "Progressing": ("False", "ApplyFailed"),
            "Degraded": ("True", "ProbesUnavailable"),
        },
        id="apply-failed",
    ),
]


@pytest.mark.parametrize(("verdict", "probes", "expected"), CASES)
def test_workload_conditions(
    verdict: Verdict, probes: list[ProbeFacts], expected: dict[str, tuple[str, str]]
) -> None:
    assert decided(verdict, *probes) == expected


def test_invalid_spec_reports_what_still_runs() -> None:
    verdict = Verdict(3, UID, INVALID, "no Node for mars", ())
    entries = location_entries(verdict, {"hq": facts(), "edge": facts("edge", ready=0)})
    assert entries == [
        {"name": "edge", "replicas": 1, "readyReplicas": 0, "ready": False},
        {"name": "hq", "replicas": 1, "readyReplicas": 1, "ready": True},
    ]


def test_status_carries_generation_conditions_and_locations() -> None:
    status = workload_status(honoured(("hq", 1), ("edge", 2)), {"hq": facts()}, None, T1)
    assert status["observedGeneration"] == 3
    assert [c["type"] for c in status["conditions"]] == ["Ready", "Progressing", "Degraded"]
    assert {c["observedGeneration"] for c in status["conditions"]} == {3}
    assert status["locations"][1] == {
        "name": "edge",
        "replicas": 2,
        "readyReplicas": 0,
        "ready": False,
    }
    ready = status["conditions"][0]
    assert "edge (not created yet)" in ready["message"]


def test_probe_facts_read_a_deployment() -> None:
    deployment = {
        "metadata": {
            "name": "journey-probe-hq",
            "uid": "deployment-hq",
            "generation": 4,
            "labels": {"cxjourney.dev/location": "hq"},
            "ownerReferences": [{"uid": UID, "controller": True}],
        },
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 4,
            "replicas": 2,
            "updatedReplicas": 2,
            "readyReplicas": 1,
            "conditions": [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
        },
    }
    found = probe_facts(deployment)
    assert found == facts(desired=2, ready=1, generation=4, observed=4, stalled=True)
    assert probe_facts({"metadata": {"labels": {}}}) is None
