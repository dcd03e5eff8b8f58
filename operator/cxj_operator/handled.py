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
        """The essence kopf compares: the object without status and system metadata.

        kopf builds one for every watch event of a journey (its status writes too) by
        deep-copying the whole object, managedFields and status included, then dropping
        most of it. This builds the same essence without copying: the kept stanzas are
        shared with the watched object, which nothing mutates (every watch event is a
        freshly decoded object), and only the filtered annotations are a new mapping.
        """
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        essence: dict[str, Any] = {k: v for k, v in body.items() if k not in _NOT_ESSENCE}
        metadata = body.get("metadata") or {}
        kept: dict[str, Any] = {}
        if "labels" in metadata:
            kept["labels"] = metadata["labels"]
        annotations = metadata.get("annotations")
        if annotations is not None:
            ignored = self._detect_marked_prefixes(annotations)
            own = set(self.make_keys(self.key, body=body))
            kept["annotations"] = {
                key: value
                for key, value in annotations.items()
                if key not in own
                and key != "kubectl.kubernetes.io/last-applied-configuration"
                and not any(key.startswith(f"{prefix}/") for prefix in ignored)
            }
        if kept:
            essence["metadata"] = kept
        self.remove_empty_stanzas(cast(kopf.BodyEssence, essence))
        return cast(kopf.BodyEssence, essence)

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

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        """The essence without this storage's annotations, copying only what changes.

        kopf deep-copies the whole essence for every watch event to remove them; most
        journeys carry none, and then the essence itself is the answer.
        """
        metadata = essence.get("metadata") or {}
        annotations = metadata.get("annotations") or {}
        mine = {key for key in annotations if self.prefix and key.startswith(f"{self.prefix}/")}
        if not mine:
            return essence
        cleared = cast(dict[str, Any], dict(essence))
        cleared["metadata"] = {**metadata, "annotations": dict(annotations)}
        self.remove_annotations(cast(kopf.BodyEssence, cleared), mine)
        self.remove_empty_stanzas(cast(kopf.BodyEssence, cleared))
        return cast(kopf.BodyEssence, cleared)
