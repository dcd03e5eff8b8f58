"""kopf's bookkeeping for journeys: the handled spec stays in memory, retries in annotations."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from cxj_operator.handled import HandledSpecs, RetryProgress

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "desk-probe-hq",
        "namespace": "cc",
        "uid": "d1",
        "labels": {"cxjourney.dev/journey": "desk"},
        "annotations": {
            "deployment.kubernetes.io/revision": "1",
            "cxjourney.dev/kopf-managed": "yes",
            "cxjourney.dev/last-handled-configuration": '{"spec": {}}',
        },
        "managedFields": [{"manager": "cxj-operator", "operation": "Apply"}],
    },
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "probe"}]}}},
    "status": {"replicas": 1, "readyReplicas": 1},
}
JOURNEY: dict[str, Any] = {
    "apiVersion": "cxjourney.dev/v1alpha1",
    "kind": "CxJourney",
    "metadata": {"name": "desk", "namespace": "cc", "uid": "j1", "generation": 3},
    "spec": {"type": "agent-desktop", "locations": [{"name": "hq"}]},
    "status": {"observedGeneration": 3},
}
NO_SPEC: dict[str, Any] = {"metadata": {"name": "bare", "uid": "b1", "labels": {"a": "b"}}}
ANNOTATED: dict[str, Any] = {
    **JOURNEY,
    "metadata": {
        **JOURNEY["metadata"],
        "labels": {},
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "other.example/kopf-managed": "yes",
            "other.example/reconcile": "{}",
            "cxjourney.dev/reconcile": '{"retries": 1}',
            "team": "contact-center",
        },
    },
}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DEPLOYMENT, id="deployment-with-managed-fields-and-status"),
        pytest.param(JOURNEY, id="journey-without-annotations"),
        pytest.param(NO_SPEC, id="object-without-spec"),
        pytest.param(ANNOTATED, id="other-operators-annotations-and-empty-labels"),
    ],
)
def test_the_essence_is_the_one_kopf_compares(body: dict[str, Any]) -> None:
    kopfs = kopf.AnnotationsDiffBaseStorage(
        prefix="cxjourney.dev", key="last-handled-configuration"
    )
    wrapped = kopf.Body(body)  # type: ignore[arg-type]
    essence = HandledSpecs().build(body=wrapped)
    assert essence == kopfs.build(body=wrapped)
    # and with this operator's retry progress cleared, as kopf compares them
    progress = kopf.AnnotationsProgressStorage(prefix="cxjourney.dev")
    assert RetryProgress().clear(essence=essence) == progress.clear(essence=essence)
    assert essence == kopfs.build(body=wrapped)  # clearing left the essence as it was


def test_the_handled_spec_is_remembered_by_uid_and_never_patched() -> None:
    storage, patch = HandledSpecs(), kopf.Patch()
    body = kopf.Body(JOURNEY)  # type: ignore[arg-type]
    assert storage.fetch(body=body) is None  # never handled: kopf sees a creation
    essence = storage.build(body=body)
    storage.store(body=body, patch=patch, essence=essence)
    assert storage.fetch(body=body) == essence
    assert not patch  # no API write
    storage.forget("j1")
    assert storage.fetch(body=body) is None


def _record(success: bool, retries: int = 1) -> kopf.ProgressRecord:
    return {
        "started": "2026-01-01T00:00:00",
        "stopped": "2026-01-01T00:00:01" if success else None,
        "delayed": None if success else "2026-01-01T00:01:00",
        "purpose": "create",
        "retries": retries,
        "success": success,
        "failure": False,
        "message": None if success else "cannot honour the spec yet",
        "subrefs": None,
    }


def test_a_first_time_success_leaves_nothing_to_patch() -> None:
    storage, patch = RetryProgress(), kopf.Patch()
    body = kopf.Body(JOURNEY)  # type: ignore[arg-type]
    storage.store(key=kopf.HandlerId("reconcile"), record=_record(True), body=body, patch=patch)
    storage.purge(key=kopf.HandlerId("reconcile"), body=body, patch=patch)
    assert not patch


def test_a_failed_attempt_is_stored_for_the_retry_and_cleared_after_success() -> None:
    storage, patch = RetryProgress(), kopf.Patch()
    key = kopf.HandlerId("reconcile")
    storage.store(key=key, record=_record(False), body=kopf.Body(JOURNEY), patch=patch)  # type: ignore[arg-type]
    annotations = dict(patch["metadata"]["annotations"])
    (progress,) = [k for k in annotations if k.endswith("/reconcile")]
    assert "cannot honour" in annotations[progress]

    retried = {**JOURNEY, "metadata": {**JOURNEY["metadata"], "annotations": annotations}}
    body, after = kopf.Body(retried), kopf.Patch()  # type: ignore[arg-type]
    storage.store(key=key, record=_record(True, retries=2), body=body, patch=after)
    storage.purge(key=key, body=body, patch=after)
    assert after["metadata"]["annotations"][progress] is None  # removed from the object
