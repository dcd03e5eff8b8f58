"""The level-based reconcile: parse, check, build, apply, prune, then one status apply.

Whatever happened before (a crash mid-way, a missed event, a restart), running it again
converges: children have fixed names and are server-side applied, leftover Deployments
are found among the watched ones by owner, and status is derived from what exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import kopf

from cxj_journey.model import Journey, JourneyInvalid, parse_journey
from cxj_operator import naming
from cxj_operator.builders import BuildParams, build_children
from cxj_operator.conditions import READY, find, rfc3339, same_decision
from cxj_operator.fanout import run_all
from cxj_operator.inventory import JourneyRecord, Key, child_version
from cxj_operator.journey_status import apply_journey_status, current_experience
from cxj_operator.kube import Applied, ObjectRef
from cxj_operator.placement import impossible_locations
from cxj_operator.readiness import FAILED, HONOURED, INVALID, Verdict, workload_status
from cxj_operator.services import NodeCache, Services

__all__ = ["NodeCache", "Services", "flush_statuses", "observe_probe", "reconcile"]

log = logging.getLogger("cxj.operator.reconcile")


def _ref(body: Mapping[str, Any]) -> ObjectRef:
    metadata = body["metadata"]
    return ObjectRef(
        naming.API_VERSION, naming.KIND, metadata["namespace"], metadata["name"], metadata["uid"]
    )


def unhonourable(services: Services, journey: Journey) -> list[str]:
    """Problems that make a schema-valid journey impossible to run here, with their fixes."""
    problems = []
    names = dict.fromkeys(ref.name for ref in journey.secret_refs())
    missing = {name for name in names if not services.api.secret_exists(journey.namespace, name)}
    for ref in journey.secret_refs():
        if ref.name in missing:
            problems.append(
                f"Secret {journey.namespace}/{ref.name} (key {ref.key}) does not exist; "
                "create it or fix the secretKeyRef"
            )
    if services.config.check_locations:
        problems.extend(impossible_locations(journey.locations, services.nodes.nodes()))
    return problems


def _describe(manifests: Sequence[Mapping[str, Any]]) -> str:
    return ", ".join(f"{m['kind']} {m['metadata']['name']}" for m in manifests)


def _prune(
    services: Services, key: Key, uid: str, desired_locations: set[str]
) -> list[dict[str, Any]]:
    """Deletes this journey's probe Deployments of locations it no longer has.

    Only Deployments can be left over: the ConfigMap and ServiceAccount names are fixed
    per journey. The operator watches its Deployments, so the inventory knows them; one it
    learns of after this reconcile is pruned when its watch event arrives (observe_probe).
    """
    pruned = []
    for location, facts in services.inventory.probes(key).items():
        if facts.owner_uid != uid or location in desired_locations:
            continue
        if services.api.delete("apps/v1", "Deployment", key[0], facts.name, facts.uid):
            pruned.append({"kind": "Deployment", "metadata": {"name": facts.name}})
        services.inventory.forget_probe(key, location)
    return pruned


def _apply_in_stages(services: Services, desired: list[dict[str, Any]]) -> list[Applied]:
    """Applies the desired set in two concurrent stages; results in the order of desired.

    The ServiceAccount and ConfigMap go first: a probe Pod naming a ServiceAccount that
    does not exist yet is refused, and its ReplicaSet would back off before retrying.
    """
    results: dict[int, Applied] = {}
    for stage in (False, True):
        indexes = [i for i, m in enumerate(desired) if (m["kind"] == "Deployment") == stage]
        applied = run_all(services.fanout, services.api.apply, [desired[i] for i in indexes])
        results.update(zip(indexes, applied, strict=True))
    return [results[i] for i in range(len(desired))]


def _apply_and_prune(
    services: Services, journey: Journey, uid: str, desired: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Applies the desired set and deletes this journey's leftovers.

    Returns the applied objects and which were created, updated and pruned.
    """
    key = (journey.namespace, journey.name)
    applied, created, updated = [], [], []
    for manifest, result in zip(desired, _apply_in_stages(services, desired), strict=True):
        applied.append(result.object)
        before = services.inventory.remember_child(key, result.object)
        if before is None and manifest["kind"] == "Deployment":
            # After a restart the watch already knows the Deployment's spec generation.
            location = manifest["metadata"]["labels"][naming.LOCATION_LABEL]
            known = services.inventory.probes(key).get(location)
            before = (known.uid, known.generation) if known is not None else None
        if result.created:
            created.append(manifest)
        elif before is not None and before != child_version(result.object):
            updated.append(manifest)
    pruned = _prune(services, key, uid, {loc.name for loc in journey.locations})
    return applied, created, updated, pruned


def reconcile(services: Services, body: Mapping[str, Any]) -> None:
    """Brings a journey's children to what its spec asks, then records the outcome in status.

    Raises:
        kopf.TemporaryError: when the spec cannot be honoured yet (a Secret or a Node may
            appear) or the API failed; kopf retries with backoff.
        kopf.PermanentError: when the apiserver rejects what was built.
    """
    metadata = body["metadata"]
    key: Key = (metadata["namespace"], metadata["name"])
    uid, generation = metadata["uid"], int(metadata.get("generation", 0))
    record = services.inventory.ensure(key, uid, generation, body.get("status") or {})
    with record.lock:
        _reconcile(services, body, key, record)


def _reconcile(
    services: Services, body: Mapping[str, Any], key: Key, record: JourneyRecord
) -> None:
    uid, generation = record.uid, int(body["metadata"].get("generation", 0))
    ref = _ref(body)
    try:
        journey = parse_journey(dict(body))
    except JourneyInvalid as error:
        _decide(services, key, ref, Verdict(generation, uid, INVALID, str(error), ()))
        return  # only a spec change can fix it, and a spec change calls us again
    locations = tuple((loc.name, loc.replicas) for loc in journey.locations)
    problems = unhonourable(services, journey)
    if problems:
        message = "; ".join(problems)
        _decide(services, key, ref, Verdict(generation, uid, INVALID, message, ()))
        raise kopf.TemporaryError(
            f"cannot honour the spec yet: {message}", delay=services.config.unhonourable_retry_s
        )
    desired = build_children(BuildParams(journey, uid, services.config.probe))
    try:
        applied, created, updated, pruned = _apply_and_prune(services, journey, uid, desired)
    except (kopf.TemporaryError, kopf.PermanentError) as error:
        _decide(services, key, ref, Verdict(generation, uid, FAILED, str(error), locations))
        raise
    for item in applied:
        if item["kind"] == "Deployment":
            services.inventory.observe_probe("MODIFIED", item)
    for reason, items in (("Created", created), ("Updated", updated), ("Pruned", pruned)):
        if items:
            log.info("%s/%s: %s %s", key[0], key[1], reason.lower(), _describe(items))
            services.api.post_event(
                ref, "Normal", reason, f"{reason.lower()} {_describe(items)}", services.identity
            )
    record.reported = None
    _decide(services, key, ref, Verdict(generation, uid, HONOURED, "", locations))


def _decide(services: Services, key: Key, ref: ObjectRef, verdict: Verdict) -> None:
    services.inventory.set_verdict(key, verdict)
    record = services.inventory.record(key)
    if verdict.state != HONOURED and record is not None:
        reason = "InvalidSpec" if verdict.state == INVALID else "ApplyFailed"
        # One Event per distinct problem: retries of the same problem stay quiet.
        if record.reported != f"{reason}: {verdict.message}":
            services.api.post_event(ref, "Warning", reason, verdict.message, services.identity)
            record.reported = f"{reason}: {verdict.message}"
    write_workload_status(services, key, verdict)


def write_workload_status(services: Services, key: Key, verdict: Verdict | None = None) -> None:
    """Applies the reconcile's part of status when it changed: one API call, or none.

    A reconcile's verdict is written at once. A change seen by the watch (a rollout step)
    is written at once when it flips Ready or observedGeneration; other changes (progress
    messages, Progressing and Degraded during a rollout) wait up to settle_s for the next
    steps, so a rollout costs one or two writes rather than one per step.
    """
    record = services.inventory.record(key)
    if record is None:
        return
    with record.lock:
        from_watch = verdict is None
        verdict = verdict or record.verdict
        if verdict is None or verdict.uid != record.uid:
            return  # not reconciled by this process yet: the reconcile will write it
        previous = (record.workload or record.status or {}).get("conditions")
        stamp = rfc3339(services.clock())
        status = workload_status(verdict, services.inventory.probes(key), previous, stamp)
        written = record.workload
        if written is not None and _same_status(written, status):
            record.settling_since = None
            return
        if from_watch and written is not None and not _decisive(written, status):
            now = time.monotonic()
            if record.settling_since is None:
                record.settling_since = now
            if now - record.settling_since < services.settle_s:
                services.inventory.mark_dirty(key)  # looked at again by the next flush
                return
        experience = current_experience(services, record, stamp)
        apply_journey_status(services, key, record, status, experience)
        record.workload = status
        record.settling_since = None


def _same_status(written: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    return bool(
        written.get("observedGeneration") == status["observedGeneration"]
        and written.get("locations") == status["locations"]
        and same_decision(written.get("conditions"), status["conditions"])
    )


def _decisive(written: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether a change is one a user waits for: Ready flipped or a new generation."""
    before, after = find(written.get("conditions"), READY), find(status["conditions"], READY)
    return written.get("observedGeneration") != status["observedGeneration"] or (
        (before or {}).get("status") != (after or {}).get("status")
    )


def observe_probe(services: Services, event_type: str | None, body: Mapping[str, Any]) -> None:
    """Takes a probe Deployment's change into its journey's readiness (memory only).

    The journey is marked for the next status flush, which writes it and prunes any
    Deployment its honoured spec no longer wants.
    """
    key = services.inventory.observe_probe(event_type, body)
    if key is not None:
        services.inventory.mark_dirty(key)


def _prune_late(services: Services, key: Key) -> None:
    """Prunes Deployments learnt of after the journey's reconcile (e.g. after a restart)."""
    record = services.inventory.record(key)
    verdict = record.verdict if record is not None else None
    if verdict is None or verdict.state != HONOURED:
        return
    pruned = _prune(services, key, verdict.uid, {name for name, _ in verdict.locations})
    if pruned:
        ref = ObjectRef(naming.API_VERSION, naming.KIND, key[0], key[1], verdict.uid)
        log.info("%s/%s: pruned %s", key[0], key[1], _describe(pruned))
        services.api.post_event(
            ref, "Normal", "Pruned", f"pruned {_describe(pruned)}", services.identity
        )


def flush_statuses(services: Services) -> None:
    """Writes the status of every journey whose probes changed since the last flush.

    Batching the Deployment events of a journey this way turns a burst of rollout
    updates into one status write; the journeys of one flush are written concurrently.
    """
    run_all(services.batch, lambda key: _flush_one(services, key), services.inventory.take_dirty())


def _flush_one(services: Services, key: Key) -> None:
    record = services.inventory.record(key)
    if record is None:
        return
    if not record.lock.acquire(blocking=False):
        services.inventory.mark_dirty(key)  # a reconcile runs: it writes status itself
        return
    try:
        _prune_late(services, key)
        write_workload_status(services, key)
    except kopf.TemporaryError as error:
        # Kept dirty: the next flush tries again.
        services.inventory.mark_dirty(key)
        log.warning("status of %s/%s not written yet: %s", key[0], key[1], error)
    finally:
        record.lock.release()
