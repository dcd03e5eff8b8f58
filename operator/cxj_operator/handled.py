"""What kopf keeps about handled journeys: the handled spec in memory, retries in annotations.

kopf compares each watched journey with the spec it last handled to tell a spec change
from a status write. Keeping that in an annotation costs one patch per handled change,
and the patch comes back as one more watch event; at 1,000 journeys applied at once that
is 1,000 writes the apiserver must take while it rolls out 2,000 probes. The reconcile is
level-based, so memory is enough: after a restart nothing is remembered, every journey is
handled as created, and that reconciles it exactly as resuming would. Retries keep their
progress in annotations (kopf's own touch-and-retry needs a write to wake up).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, cast

import kopf

from cxj_operator import naming

# Where the previous releases kept it; still stripped from the compared spec.
ANNOTATION_KEY = "last-handled-configuration"
_NOT_ESSENCE = frozenset({"apiVersion", "kind", "metadata", "status"})


class HandledSpecs(kopf.AnnotationsDiffBaseStorage):
    """The last handled essence of each journey, by uid, never written to the API."""

    def __init__(self) -> None:
        super().__init__(prefix=naming.GROUP, key=ANNOTATION_KEY)
        self._lock = threading.Lock()
        self._essences: dict[str, kopf.BodyEssence] = {}

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        """The essence of an object, copied from its spec, labels and annotations only.

        kopf builds one for every watch event (every probe Deployment's rollout step too)
        by deep-copying the whole object, managedFields and status included, and then
        dropping most of it; copying only what is kept makes the same essence for less.
        """
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        metadata = body.get("metadata") or {}
        kept = {key: value for key, value in body.items() if key not in _NOT_ESSENCE}
        kept["metadata"] = {
            key: metadata[key] for key in ("labels", "annotations", "name") if key in metadata
        }
        return super().build(body=kopf.Body(cast(kopf.RawBody, kept)))

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        """The essence handled last for this object, or None (then kopf sees a creation)."""
        with self._lock:
            return self._essences.get(str(body.metadata.uid))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        """Remembers the handled essence; adds nothing to kopf's patch."""
        with self._lock:
            self._essences[str(body.metadata.uid)] = essence

    def forget(self, uid: str) -> None:
        """Drops a deleted journey's entry."""
        with self._lock:
            self._essences.pop(uid, None)


class RetryProgress(kopf.AnnotationsProgressStorage):
    """kopf's per-handler progress in annotations, written only when a retry needs it.

    A handler that succeeds at its first attempt has its record purged straight after,
    so writing it (and the marker annotation that comes with it) would be a patch that
    leaves nothing behind. A failed attempt is stored as before: kopf's retry with backoff
    is driven by that annotation being touched.
    """

    def __init__(self) -> None:
        super().__init__(prefix=naming.GROUP)

    def store(
        self,
        *,
        key: kopf.HandlerId,
        record: kopf.ProgressRecord,
        body: kopf.Body,
        patch: kopf.Patch,
    ) -> None:
        """Stores the record unless it is a first-time success (nothing to keep then)."""
        if record.get("success") and self.fetch(key=key, body=body) is None:
            return
        super().store(key=key, record=record, body=body, patch=patch)
