"""The reconcile against a recording fake of the API layer: what it applies, prunes, writes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest

from cxj_operator import kube
from cxj_operator.config import OperatorConfig
from cxj_operator.inventory import Inventory
from cxj_operator.kube import Applied, Conflict, NotFound
from cxj_operator.placement import NodeFacts
from cxj_operator.reconcile import Services, flush_statuses, observe_probe, reconcile

UID = "journey-uid"
NODE = NodeFacts("n1", {"type": "kwok"}, (), False)


def _content(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k != "metadata"}


class FakeApi:
    """Records calls; objects get uids and generations like the apiserver gives them."""

    def __init__(self, secrets: tuple[str, ...] = (), fail_on: str | None = None) -> None:
        self.secrets, self.fail_on = set(secrets), fail_on
        self.applied: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}

    def apply(self, manifest: dict[str, Any], manager: str = "cxj-operator") -> Applied:
        if self.fail_on == manifest["kind"]:
            raise kopf.TemporaryError(f"PATCH {manifest['kind']} forbidden: fix RBAC", delay=30)
        self.applied.append(manifest)
        key = (manifest["kind"], manifest["metadata"]["name"])
        before = self.objects.get(key)
        created = before is None
        generation = (
            1
            if created
            else before["metadata"]["generation"] + (_content(before) != _content(manifest))
        )
        result = {
            **manifest,
            "metadata": {**manifest["metadata"], "uid": f"uid-{key[1]}", "generation": generation},
        }
        self.objects[key] = result
        return Applied(result, created)

    def apply_status(
        self, namespace: str, name: str, status: dict[str, Any], manager: str
    ) -> dict[str, Any]:
        self.statuses.append(status)
        return {}

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> bool:
        self.deleted.append(name)
        return True

    def secret_exists(self, namespace: str, name: str) -> bool:
        return name in self.secrets

    def post_event(self, about: Any, kind: str, reason: str, message: str, instance: str) -> None:
        self.events.append((kind, reason))


class FakeNodes:
    def nodes(self) -> list[NodeFacts]:
        return [NODE]


def services(api: FakeApi) -> Services:
    return Services(
        api=api,
        config=OperatorConfig(),
        inventory=Inventory(),  # type: ignore[arg-type]
        nodes=FakeNodes(),
        identity="test",  # type: ignore[arg-type]
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )


def body(
    generation: int = 1,
    locations: tuple[str, ...] = ("hq", "edge"),
    secret: str | None = None,
    selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    http: dict[str, Any] = {"url": "http://127.0.0.1:18080/"}
    if secret:
        http["headers"] = [
            {
                "name": "Authorization",
                "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}},
            }
        ]
    return {
        "apiVersion": "cxjourney.dev/v1alpha1",
        "kind": "CxJourney",
        "metadata": {"name": "desk", "namespace": "cc", "uid": UID, "generation": generation},
        "spec": {
            "type": "agent-desktop",
            "steps": [{"name": "open", "http": http}],
            "locations": [
                {"name": n, "nodeSelector": selector or {"type": "kwok"}} for n in locations
            ],
        },
    }


def ready(status: dict[str, Any]) -> tuple[str, str]:
    (found,) = [c for c in status["conditions"] if c["type"] == "Ready"]
    return found["status"], found["reason"]


def test_first_reconcile_applies_the_whole_set_and_writes_status_once() -> None:
    api = FakeApi()
    reconcile(services(api), body())
    assert [(m["kind"], m["metadata"]["name"]) for m in api.applied] == [
        ("ConfigMap", "desk-journey"),
        ("ServiceAccount", "desk-probe"),
        ("Deployment", "desk-probe-hq"),
        ("Deployment", "desk-probe-edge"),
    ]
    (status,) = api.statuses
    assert status["observedGeneration"] == 1
    assert ready(status) == ("False", "ProbesNotReady")
    assert api.events == [("Normal", "Created")]


def test_reconciling_again_changes_nothing_and_posts_no_event() -> None:
    api = FakeApi()
    shared = services(api)
    reconcile(shared, body())
    reconcile(shared, body())
    assert api.events == [("Normal", "Created")]
    assert len(api.statuses) == 1  # the same status is not written twice
    assert api.deleted == []


def test_a_spec_change_reports_updated_children() -> None:
    api = FakeApi()
    shared = services(api)
    reconcile(shared, body())
    changed = body(generation=2)
    changed["spec"]["interval"] = "30s"
    reconcile(shared, changed)
    assert api.events[-1] == ("Normal", "Updated")
    assert api.statuses[-1]["observedGeneration"] == 2


def test_a_removed_location_is_pruned() -> None:
    api = FakeApi()
    shared = services(api)
    reconcile(shared, body())
    for manifest in [m for m in api.objects.values() if m["kind"] == "Deployment"]:
        observe_probe(
            shared,
            "ADDED",
            {
                **manifest,
                "metadata": {
                    **manifest["metadata"],
                    "ownerReferences": [{"uid": UID, "controller": True}],
                },
            },
        )
    reconcile(shared, body(generation=2, locations=("hq",)))
    assert api.deleted == ["desk-probe-edge"]
    assert ("Normal", "Pruned") in api.events
    assert [loc["name"] for loc in api.statuses[-1]["locations"]] == ["hq"]


def test_a_leftover_learnt_of_after_the_reconcile_is_pruned_by_the_flush() -> None:
    api = FakeApi()
    shared = services(api)
    reconcile(shared, body(locations=("hq",)))
    leftover = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "desk-probe-old",
            "namespace": "cc",
            "uid": "old",
            "generation": 1,
            "labels": {"cxjourney.dev/journey": "desk", "cxjourney.dev/location": "old"},
            "ownerReferences": [{"uid": UID, "controller": True}],
        },
        "spec": {"replicas": 1},
    }
    observe_probe(shared, "ADDED", leftover)
    flush_statuses(shared)
    assert api.deleted == ["desk-probe-old"]


@pytest.mark.parametrize(
    ("journey", "problem"),
    [
        pytest.param(body(secret="missing"), "Secret cc/missing", id="unknown-secret"),
        pytest.param(
            body(selector={"planet": "mars"}), "no schedulable Node", id="impossible-location"
        ),
    ],
)
def test_an_unhonourable_spec_touches_no_child(journey: dict[str, Any], problem: str) -> None:
    api = FakeApi()
    with pytest.raises(kopf.TemporaryError, match="cannot honour"):
        reconcile(services(api), journey)
    assert api.applied == []
    assert api.deleted == []
    (status,) = api.statuses
    assert ready(status) == ("False", "InvalidSpec")
    assert problem in status["conditions"][0]["message"]
    assert api.events == [("Warning", "InvalidSpec")]


def test_an_unhonourable_spec_is_reported_once_however_often_it_is_retried() -> None:
    api = FakeApi()
    shared = services(api)
    for _ in range(3):
        with pytest.raises(kopf.TemporaryError):
            reconcile(shared, body(secret="missing"))
    assert api.events == [("Warning", "InvalidSpec")]
    api.secrets.add("missing")
    reconcile(shared, body(secret="missing"))
    assert ready(api.statuses[-1]) == ("False", "ProbesNotReady")


def test_a_failed_apply_is_reported_and_retried() -> None:
    api = FakeApi(fail_on="Deployment")
    with pytest.raises(kopf.TemporaryError, match="forbidden"):
        reconcile(services(api), body())
    assert ready(api.statuses[-1]) == ("False", "ApplyFailed")
    assert api.events == [("Warning", "ApplyFailed")]


@pytest.mark.parametrize(
    ("status", "kind", "delay"),
    [
        pytest.param(404, NotFound, 2, id="not-found"),
        pytest.param(409, Conflict, 1, id="conflict-retried-at-once"),
        pytest.param(403, kopf.TemporaryError, 30, id="forbidden-until-rbac-is-fixed"),
        pytest.param(429, kopf.TemporaryError, 7, id="throttled-honours-retry-after"),
        pytest.param(503, kopf.TemporaryError, 7, id="unavailable"),
        pytest.param(422, kopf.PermanentError, None, id="invalid-is-permanent"),
    ],
)
def test_api_failures_map_to_retry_or_permanent_errors(
    status: int, kind: type, delay: int | None
) -> None:
    error = kube._failure("PATCH", "/apis/apps/v1/x", status, b'{"message": "m"}', "7")
    assert type(error) is kind
    if delay is not None:
        assert error.delay == delay


# -- at scale: concurrent applies, settled status writes ----------------------------------
class ConcurrentApi(FakeApi):
    """Lets both Deployments through only together; notes any that starts too early."""

    def __init__(self) -> None:
        super().__init__()
        self.both_deployments = threading.Barrier(2, timeout=5)
        self.early: list[str] = []

    def apply(self, manifest: dict[str, Any], manager: str = "cxj-operator") -> Applied:
        if manifest["kind"] == "Deployment":
            if not {("ServiceAccount", "desk-probe"), ("ConfigMap", "desk-journey")} <= set(
                self.objects
            ):
                self.early.append(manifest["metadata"]["name"])
            self.both_deployments.wait()
        return super().apply(manifest, manager)


def test_deployments_are_applied_together_after_their_service_account() -> None:
    api = ConcurrentApi()
    with ThreadPoolExecutor(4) as pool:
        reconcile(replace(services(api), fanout=pool), body())
    assert api.early == []  # a probe Pod is refused while its ServiceAccount is missing
    assert {kind for kind, _ in api.objects} == {"ConfigMap", "ServiceAccount", "Deployment"}
    assert api.events == [("Normal", "Created")]


def _rolled(shared: Services, api: FakeApi, location: str, ready: int) -> None:
    manifest = api.objects[("Deployment", f"desk-probe-{location}")]
    observe_probe(
        shared,
        "MODIFIED",
        {
            **manifest,
            "metadata": {
                **manifest["metadata"],
                "ownerReferences": [{"uid": UID, "controller": True}],
            },
            "status": {
                "observedGeneration": 1,
                "replicas": 1,
                "updatedReplicas": 1,
                "readyReplicas": ready,
            },
        },
    )


@pytest.mark.parametrize(
    ("settle_s", "writes"),
    [
        pytest.param(0.0, 3, id="every-rollout-step-written"),
        pytest.param(3600.0, 2, id="steps-that-flip-nothing-wait-for-ready"),
    ],
)
def test_rollout_steps_share_a_status_write_until_ready_flips(settle_s: float, writes: int) -> None:
    api = FakeApi()
    shared = replace(services(api), settle_s=settle_s)
    reconcile(shared, body())  # the reconcile's verdict is written at once
    assert len(api.statuses) == 1

    _rolled(shared, api, "hq", ready=0)  # rolled out, Pods not ready: details change only
    _rolled(shared, api, "edge", ready=0)
    flush_statuses(shared)
    _rolled(shared, api, "hq", ready=1)
    _rolled(shared, api, "edge", ready=1)  # Ready flips: written at once
    flush_statuses(shared)
    assert len(api.statuses) == writes
    assert ready(api.statuses[-1]) == ("True", "ProbesReady")
    assert shared.inventory.take_dirty() == []  # nothing left waiting
