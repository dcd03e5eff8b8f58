"""From probe Deployments and the reconcile's verdict to status conditions (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cxj_operator import conditions as cond
from cxj_operator import naming

HONOURED, INVALID, FAILED = "honoured", "invalid", "failed"


@dataclass(frozen=True)
class ProbeFacts:
    """What a location's probe Deployment reports about its rollout."""

    location: str
    name: str
    uid: str
    owner_uid: str | None
    desired: int
    generation: int
    observed_generation: int
    replicas: int
    updated: int
    ready: int
    stalled: bool
    # metadata.resourceVersion as a number (0 when absent or not numeric): it only grows for
    # one object, so it tells a stale copy (an apply's response) from a newer watch event.
    resource_version: int = 0

    @property
    def rolled_out(self) -> bool:
        """The current template runs on every desired replica and no old Pod is left."""
        return (
            self.observed_generation >= self.generation
            and self.updated >= self.desired
            and self.replicas <= self.desired
        )

    @property
    def is_ready(self) -> bool:
        """Rolled out, and every desired replica is ready."""
        return self.rolled_out and self.ready >= self.desired


def probe_facts(deployment: Mapping[str, Any]) -> ProbeFacts | None:
    """Reads a probe Deployment's rollout; None when it is not a location's probe."""
    metadata = deployment.get("metadata", {})
    location = (metadata.get("labels") or {}).get(naming.LOCATION_LABEL)
    if not location:
        return None
    spec, status = deployment.get("spec", {}), deployment.get("status") or {}
    owner = next(
        (o.get("uid") for o in metadata.get("ownerReferences") or () if o.get("controller")),
        None,
    )
    stalled = any(
        c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded"
        for c in status.get("conditions") or ()
    )
    return ProbeFacts(
        location=location,
        name=str(metadata.get("name", "")),
        uid=str(metadata.get("uid", "")),
        owner_uid=owner,
        desired=int(spec.get("replicas", 1)),
        generation=int(metadata.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=int(status.get("replicas", 0)),
        updated=int(status.get("updatedReplicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        stalled=stalled,
        resource_version=_number(metadata.get("resourceVersion")),
    )


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Verdict:
    """What the last reconcile decided for one generation of a journey."""

    generation: int
    uid: str
    state: str  # HONOURED, INVALID (cannot be honoured) or FAILED (applying failed)
    message: str
    locations: tuple[tuple[str, int], ...]  # the desired (location, replicas)


def _tracked(verdict: Verdict, probes: Mapping[str, ProbeFacts]) -> list[tuple[str, int]]:
    """The locations status reports: the desired ones, or what runs while the spec is invalid."""
    if verdict.state == INVALID:
        return [(name, facts.desired) for name, facts in sorted(probes.items())]
    return list(verdict.locations)


def _own(verdict: Verdict, probes: Mapping[str, ProbeFacts]) -> dict[str, ProbeFacts]:
    return {name: f for name, f in probes.items() if f.owner_uid == verdict.uid}


def location_entries(verdict: Verdict, probes: Mapping[str, ProbeFacts]) -> list[dict[str, Any]]:
    """status.locations: desired and ready replicas per location."""
    mine = _own(verdict, probes)
    entries = []
    for name, desired in _tracked(verdict, mine):
        facts = mine.get(name)
        ready = facts.ready if facts is not None else 0
        entries.append(
            {
                "name": name,
                "replicas": desired,
                "readyReplicas": ready,
                "ready": facts is not None and facts.desired == desired and facts.is_ready,
            }
        )
    return entries


def _describe(name: str, desired: int, facts: ProbeFacts | None) -> str:
    if facts is None:
        return f"{name} (not created yet)"
    if facts.stalled:
        return f"{name} (rollout stalled, {facts.ready}/{desired} ready)"
    if not facts.rolled_out:
        return f"{name} (rolling out, {facts.ready}/{desired} ready)"
    return f"{name} ({facts.ready}/{desired} ready)"


def workload_conditions(verdict: Verdict, probes: Mapping[str, ProbeFacts]) -> list[cond.Condition]:
    """Ready, Progressing and Degraded for a verdict and the probes that run."""
    mine = _own(verdict, probes)
    tracked = _tracked(verdict, mine)
    waiting = [
        _describe(name, desired, mine.get(name))
        for name, desired in tracked
        if not (name in mine and mine[name].desired == desired and mine[name].is_ready)
    ]
    rolling = [
        name
        for name, desired in tracked
        if name not in mine or not (mine[name].rolled_out or mine[name].stalled)
    ]
    unavailable = [
        _describe(name, desired, f)
        for name, desired in tracked
        if (f := mine.get(name)) is not None
        and (f.stalled or (f.rolled_out and f.ready < f.desired))
    ]
    if verdict.state == HONOURED:
        if waiting:
            ready = cond.Condition(
                cond.READY,
                cond.FALSE,
                "ProbesNotReady",
                "waiting for probes: " + ", ".join(waiting),
            )
        else:
            names = ", ".join(name for name, _ in tracked)
            ready = cond.Condition(
                cond.READY,
                cond.TRUE,
                "ProbesReady",
                f"probes ready at {len(tracked)} location(s): {names}",
            )
        progressing = (
            cond.Condition(
                cond.PROGRESSING, cond.TRUE, "RollingOut", "rolling out: " + ", ".join(rolling)
            )
            if rolling
            else cond.Condition(
                cond.PROGRESSING,
                cond.FALSE,
                "RolloutComplete",
                "every location runs the current spec",
            )
        )
    else:
        reason = "InvalidSpec" if verdict.state == INVALID else "ApplyFailed"
        ready = cond.Condition(cond.READY, cond.FALSE, reason, verdict.message)
        progressing = cond.Condition(
            cond.PROGRESSING,
            cond.FALSE,
            reason,
            "the last good probes keep running unchanged until the spec can be honoured"
            if verdict.state == INVALID
            else "the probes could not be updated; retrying",
        )
    degraded = (
        cond.Condition(cond.DEGRADED, cond.TRUE, "ProbesUnavailable", ", ".join(unavailable))
        if unavailable
        else cond.Condition(
            cond.DEGRADED, cond.FALSE, "ProbesAvailable", "no probe is missing replicas"
        )
    )
    return [ready, progressing, degraded]


def workload_status(
    verdict: Verdict,
    probes: Mapping[str, ProbeFacts],
    previous: Sequence[Mapping[str, Any]] | None,
    now: str,
) -> dict[str, Any]:
    """The part of status the reconcile owns: observedGeneration, conditions, locations."""
    return {
        "observedGeneration": verdict.generation,
        "conditions": cond.merge(
            previous, workload_conditions(verdict, probes), verdict.generation, now
        ),
        "locations": location_entries(verdict, probes),
    }
