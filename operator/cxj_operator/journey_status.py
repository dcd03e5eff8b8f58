"""A journey's status as one apply: the reconcile's part and the experience part together.

The operator writes both parts under one field manager in one request, so a change to
either costs one status write and that write carries the other part as it stands. A part
with no news is carried over as status already has it: server-side apply would remove
any field this manager owns and leaves out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cxj_operator import conditions as cond
from cxj_operator import naming
from cxj_operator.experience_view import Reading, experience_condition, experience_fields
from cxj_operator.inventory import JourneyRecord, Key
from cxj_operator.services import Services

WORKLOAD_FIELDS = ("observedGeneration", "locations")
WORKLOAD_CONDITIONS = (cond.READY, cond.PROGRESSING, cond.DEGRADED)


@dataclass(frozen=True)
class Experience:
    """status.experience and the ExperienceDegraded entry (either may be absent)."""

    fields: Mapping[str, Any] | None
    condition: Mapping[str, Any] | None


def carried_workload(status: Mapping[str, Any]) -> dict[str, Any]:
    """The reconcile's part as status has it."""
    carried: dict[str, Any] = {k: status[k] for k in WORKLOAD_FIELDS if k in status}
    conditions = [c for c in status.get("conditions") or () if c.get("type") in WORKLOAD_CONDITIONS]
    if conditions:
        carried["conditions"] = conditions
    return carried


def carried_experience(status: Mapping[str, Any]) -> Experience:
    """The experience part as status has it."""
    return Experience(
        status.get("experience"), cond.find(status.get("conditions"), cond.EXPERIENCE_DEGRADED)
    )


def compose(workload: Mapping[str, Any], experience: Experience) -> dict[str, Any]:
    """The status body of one apply: both parts, their conditions in one list."""
    body = {k: v for k, v in workload.items() if k != "conditions"}
    conditions = list(workload.get("conditions") or ())
    if experience.fields is not None:
        body["experience"] = experience.fields
    if experience.condition is not None:
        conditions.append(experience.condition)
    if conditions:
        body["conditions"] = conditions
    return body


def _condition(record: JourneyRecord, reading: Reading, now: str) -> dict[str, Any]:
    """ExperienceDegraded for a reading, its transition time kept from the last one."""
    previous = record.experience_conditions or (record.status or {}).get("conditions")
    (condition,) = cond.merge(previous, [experience_condition(reading)], record.generation, now)
    return condition


def experience_from(
    services: Services, record: JourneyRecord, reading: Reading, now: str
) -> Experience:
    """The experience part a reading gives."""
    fields = experience_fields(reading, services.config.experience.processor_url, now)
    return Experience(fields, _condition(record, reading, now))


def current_experience(services: Services, record: JourneyRecord, now: str) -> Experience:
    """The experience part a workload write carries.

    The journey's last reading (its written fields, its condition at the current
    generation); else what the last sweep found for every journey (the processor down or
    not configured), so a new journey says so from its first status write; else what
    status has.
    """
    if record.reading is not None and record.experience is not None:
        return Experience(record.experience, _condition(record, record.reading, now))
    shared = services.inventory.shared_reading()
    if shared is not None:
        return experience_from(services, record, shared, now)
    if record.experience is not None:
        return Experience(
            record.experience, cond.find(record.experience_conditions, cond.EXPERIENCE_DEGRADED)
        )
    return carried_experience(record.status or {})


def apply_journey_status(
    services: Services,
    key: Key,
    record: JourneyRecord,
    workload: Mapping[str, Any],
    experience: Experience,
) -> None:
    """Applies both parts in one request and remembers the experience part as written.

    The caller holds the record's lock and records the workload part itself.
    """
    services.api.apply_status(key[0], key[1], compose(workload, experience), naming.FIELD_MANAGER)
    if record.legacy_owner:
        # An empty apply by the earlier manager gives up what it owned; the fields stay,
        # owned by this manager alone, so a field it drops later is removed, not left stale.
        services.api.apply_status(key[0], key[1], None, naming.LEGACY_EXPERIENCE_MANAGER)
        record.legacy_owner = False
    if experience.fields is not None:
        record.experience = dict(experience.fields)
    if experience.condition is not None:
        record.experience_conditions = [dict(experience.condition)]
