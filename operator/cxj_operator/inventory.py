"""What the operator knows between API calls: journeys, their probes and what it last wrote.

Fed by kopf's watch events; read by the reconcile, the readiness refresh and the
experience poller, which run on different threads, so every access takes the lock.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cxj_operator import naming
from cxj_operator.experience_view import Reading
from cxj_operator.readiness import ProbeFacts, Verdict, probe_facts

Key = tuple[str, str]  # (namespace, journey name)


@dataclass
class JourneyRecord:
    """The latest watched state of one journey, plus what this operator decided and wrote."""

    uid: str
    generation: int
    status: Mapping[str, Any]
    verdict: Verdict | None = None
    workload: dict[str, Any] | None = None  # the status part the reconcile last applied
    settling_since: float | None = None  # when a detail-only status change was first held
    experience: dict[str, Any] | None = None  # status.experience as last applied
    experience_conditions: list[dict[str, Any]] | None = None
    experience_written_at: float = 0.0
    reading: Reading | None = None  # the processor reading status.experience was made from
    # Status fields are still owned by an earlier release's experience field manager.
    legacy_owner: bool = False
    reported: str | None = None  # the warning last sent as an Event, to send each once
    body: Mapping[str, Any] | None = None  # the latest watched object, for incident delivery
    # Held by a reconcile for its whole run, so nothing prunes or writes status midway.
    lock: threading.RLock = field(default_factory=threading.RLock)


def _legacy_owner(metadata: Mapping[str, Any]) -> bool:
    return any(
        entry.get("manager") == naming.LEGACY_EXPERIENCE_MANAGER
        for entry in metadata.get("managedFields") or ()
    )


def child_version(child: Mapping[str, Any]) -> tuple[str, Any]:
    """Identity and version of a child: a spec change moves it, a status change does not."""
    metadata = child["metadata"]
    return metadata.get("uid", ""), metadata.get("generation", metadata.get("resourceVersion"))


class Inventory:
    """Thread-safe book of journeys and their probe Deployments."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._journeys: dict[Key, JourneyRecord] = {}
        self._probes: defaultdict[Key, dict[str, ProbeFacts]] = defaultdict(dict)
        self._versions: defaultdict[Key, dict[tuple[str, str], tuple[str, Any]]] = defaultdict(dict)
        self._dirty: set[Key] = set()
        self._shared: Reading | None = None

    def observe_journey(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """Records a journey's watch event; DELETED forgets it."""
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        with self._lock:
            if event_type == "DELETED":
                self._journeys.pop(key, None)
                self._versions.pop(key, None)
                self._dirty.discard(key)
                return
            record = self._journeys.get(key)
            if record is None or record.uid != metadata["uid"]:
                record = JourneyRecord(
                    metadata["uid"], int(metadata.get("generation", 0)), body.get("status") or {}
                )
                self._journeys[key] = record
            else:
                record.generation = int(metadata.get("generation", 0))
                record.status = body.get("status") or {}
            record.legacy_owner = _legacy_owner(metadata)
            record.body = {
                "apiVersion": body.get("apiVersion"),
                "kind": body.get("kind"),
                "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
                "spec": body.get("spec"),
            }

    def record(self, key: Key) -> JourneyRecord | None:
        """The record of a journey, or None when it is not (or no longer) known."""
        with self._lock:
            return self._journeys.get(key)

    def ensure(
        self, key: Key, uid: str, generation: int, status: Mapping[str, Any]
    ) -> JourneyRecord:
        """The record of a journey being reconciled, created from its body if not watched yet."""
        with self._lock:
            record = self._journeys.get(key)
            if record is None or record.uid != uid:
                record = JourneyRecord(uid, generation, status)
                self._journeys[key] = record
            return record

    def journey_keys(self) -> list[Key]:
        """Every known journey."""
        with self._lock:
            return list(self._journeys)

    def observe_probe(self, event_type: str | None, body: Mapping[str, Any]) -> Key | None:
        """Records a probe Deployment's watch event; returns the journey it belongs to."""
        metadata = body["metadata"]
        journey = (metadata.get("labels") or {}).get(naming.JOURNEY_LABEL)
        facts = probe_facts(body)
        if not journey or facts is None:
            return None
        key = (metadata["namespace"], journey)
        with self._lock:
            probes = self._probes[key]
            if event_type == "DELETED":
                if probes.get(facts.location, facts).owner_uid == facts.owner_uid:
                    probes.pop(facts.location, None)
                if not probes:
                    del self._probes[key]
            else:
                known = probes.get(facts.location)
                if (
                    known is None
                    or known.uid != facts.uid
                    or (known.resource_version <= facts.resource_version)
                ):
                    probes[facts.location] = facts  # else a stale copy: what we know is newer
        return key

    def probes(self, key: Key) -> dict[str, ProbeFacts]:
        """A copy of the probe facts of a journey, by location."""
        with self._lock:
            return dict(self._probes.get(key, {}))

    def forget_probe(self, key: Key, location: str) -> None:
        """Drops a pruned location's probe before its DELETED event arrives."""
        with self._lock:
            self._probes.get(key, {}).pop(location, None)

    def remember_child(self, key: Key, child: Mapping[str, Any]) -> tuple[str, Any] | None:
        """Records an applied child's version; returns the version known before, if any.

        The version is the generation where the kind has one (a Deployment's status
        changes do not count), else the resourceVersion.
        """
        name = (child["kind"], child["metadata"]["name"])
        with self._lock:
            versions = self._versions[key]
            before = versions.get(name)
            versions[name] = child_version(child)
            return before

    def set_shared_reading(self, reading: Reading | None) -> None:
        """Records what the last experience sweep found for every journey alike.

        That is the processor unreachable or not configured; None when readings differ by
        journey.
        """
        with self._lock:
            self._shared = reading

    def shared_reading(self) -> Reading | None:
        """The reading every journey shares since the last sweep, if there is one."""
        with self._lock:
            return self._shared

    def mark_dirty(self, key: Key) -> None:
        """Notes that a journey's readiness changed and its status should be rewritten."""
        with self._lock:
            self._dirty.add(key)

    def take_dirty(self) -> list[Key]:
        """The journeys marked since the last call (and forgets them)."""
        with self._lock:
            dirty, self._dirty = sorted(self._dirty), set()
            return dirty

    def set_verdict(self, key: Key, verdict: Verdict) -> None:
        """Stores the reconcile's decision for the readiness refresh to build on."""
        with self._lock:
            record = self._journeys.get(key)
            if record is not None:
                record.verdict = verdict
