"""Condition bookkeeping (pure): lastTransitionTime moves only when a status flips."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
EXPERIENCE_DEGRADED = "ExperienceDegraded"


@dataclass(frozen=True)
class Condition:
    """A condition as the operator decides it, before bookkeeping adds times."""

    type: str
    status: str
    reason: str
    message: str


def rfc3339(moment: datetime) -> str:
    """Formats a time as Kubernetes does in conditions (UTC, whole seconds, Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Iterable[Mapping[str, Any]] | None, kind: str) -> Mapping[str, Any] | None:
    """Returns the condition of a type from a status's list, or None."""
    return next((c for c in conditions or () if c.get("type") == kind), None)


def merge(
    previous: Sequence[Mapping[str, Any]] | None,
    decided: Iterable[Condition],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Returns the decided conditions as status entries.

    lastTransitionTime is carried over from the previous entry of the same type when the
    status did not change, and set to now when it did (or the type is new): a reason or
    message change alone is not a transition.
    """
    entries = []
    for condition in decided:
        before = find(previous, condition.type)
        unchanged = before is not None and before.get("status") == condition.status
        since = before.get("lastTransitionTime") if unchanged and before is not None else None
        entries.append(
            {
                "type": condition.type,
                "status": condition.status,
                "reason": condition.reason,
                "message": condition.message,
                "observedGeneration": generation,
                "lastTransitionTime": since or now,
            }
        )
    return entries


def flipped_to(
    previous: Sequence[Mapping[str, Any]] | None,
    current: Sequence[Mapping[str, Any]],
    kind: str,
    status: str,
) -> bool:
    """Whether the condition of a type became the given status (it was anything else)."""
    before, after = find(previous, kind), find(current, kind)
    return (
        after is not None
        and after.get("status") == status
        and (before is None or before.get("status") != status)
    )


def same_decision(
    previous: Sequence[Mapping[str, Any]] | None, current: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether two condition lists say the same, ignoring times (nothing to write then)."""
    keys = ("status", "reason", "message", "observedGeneration")
    for entry in current:
        before = find(previous, entry["type"])
        if before is None or any(before.get(k) != entry.get(k) for k in keys):
            return False
    return True
