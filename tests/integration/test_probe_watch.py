"""The operator's own watch of its probe Deployments, against the real apiserver."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from tests.harness.kube import ControlPlane
from tests.harness.waiting import wait_for

from cxj_operator import kube as operator_kube
from cxj_operator import naming
from cxj_operator.kube import Gone, KubeApi
from cxj_operator.probe_watch import ProbeWatch

NAMESPACE = "probe-watch"


def _deployment(name: str, managed: bool = True, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    if managed:
        labels |= {
            naming.MANAGED_BY_LABEL: naming.MANAGED_BY,
            naming.JOURNEY_LABEL: "checkout",
            naming.LOCATION_LABEL: name,
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "probe", "image": "cxj-probe:test"}]},
            },
        },
    }


class Seen:
    """What the watch handed on: (event type, Deployment name), in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str | None, str]] = []

    def __call__(self, kind: str | None, body: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((kind, body["metadata"]["name"]))

    def snapshot(self) -> list[tuple[str | None, str]]:
        with self._lock:
            return list(self.events)


@pytest.fixture(scope="module")
def api(kube: ControlPlane) -> Iterator[KubeApi]:
    kube.kubectl("create", "namespace", NAMESPACE)
    client = KubeApi(operator_kube.load_configuration(str(kube.kubeconfig), None))
    yield client
    client.close()
    kube.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def _apply(kube: ControlPlane, *documents: dict[str, Any]) -> None:
    for document in documents:
        kube.apply_manifest(document)


def _delete(kube: ControlPlane, *names: str) -> None:
    kube.kubectl("delete", "deployment", "-n", NAMESPACE, *names)


def test_lists_then_hands_on_every_change_of_the_selected_deployments_only(
    kube: ControlPlane, api: KubeApi
) -> None:
    _apply(kube, _deployment("before"), _deployment("unmanaged", managed=False))
    seen = Seen()
    watch = ProbeWatch(api, NAMESPACE, naming.managed_selector(), seen)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        assert watch.listed.wait(30), "the first listing never finished"
        assert seen.snapshot() == [(None, "before")]
        _apply(kube, _deployment("after"))
        _apply(kube, _deployment("after", replicas=2))
        _delete(kube, "before", "unmanaged")
        wanted = [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "before")]
        wait_for(
            lambda: all(event in seen.snapshot() for event in wanted),
            30,
            "every change handed on",
            lambda: json.dumps(seen.snapshot()),
        )
        assert all(name != "unmanaged" for _, name in seen.snapshot())
    finally:
        watch.stop()
        # An idle watch (nothing changes now) ends at once, not at its timeout.
        thread.join(5)
    assert not thread.is_alive(), "stop() did not end a watch waiting for events"
    _delete(kube, "after")


def test_a_listing_reports_what_vanished_since_the_last_one(
    kube: ControlPlane, api: KubeApi
) -> None:
    _apply(kube, _deployment("stays"), _deployment("goes"))
    seen = Seen()
    watch = ProbeWatch(api, NAMESPACE, naming.managed_selector(), seen)
    watch._list()
    _delete(kube, "goes")
    watch._list()
    events = seen.snapshot()
    assert sorted(name for _, name in events[:2]) == ["goes", "stays"]
    assert all(kind is None for kind, _ in events[:2])
    # The second listing finds "stays" again and reports "goes" as deleted, after it.
    assert events[2:] == [(None, "stays"), ("DELETED", "goes")]
    _delete(kube, "stays")


def test_a_fault_while_handing_on_is_logged_and_the_watch_starts_over(
    kube: ControlPlane, api: KubeApi, caplog: pytest.LogCaptureFixture
) -> None:
    _apply(kube, _deployment("faulty"))
    seen = Seen()

    def observe(kind: str | None, body: Mapping[str, Any]) -> None:
        seen(kind, body)
        if len(seen.snapshot()) == 1:
            raise RuntimeError("a fault in the inventory")

    watch = ProbeWatch(api, NAMESPACE, naming.managed_selector(), observe, backoffs=(0.1,))
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        assert watch.listed.wait(30), "the listing after the fault never finished"
    finally:
        watch.stop()
        thread.join(5)
    assert seen.snapshot()[:2] == [(None, "faulty"), (None, "faulty")]
    assert "a fault in the inventory" in caplog.text
    _delete(kube, "faulty")


def _compact_etcd(kube: ControlPlane) -> None:
    """Compacts etcd's history up to now (as the apiserver does every few minutes)."""

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            kube.etcd_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer

    revision = int(
        post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})["header"]["revision"]
    )
    post("/v3/kv/compaction", {"revision": revision, "physical": True})


def test_a_version_too_old_to_resume_from_means_listing_again(
    kube: ControlPlane, api: KubeApi
) -> None:
    _apply(kube, _deployment("old-version"))
    seen = Seen()
    watch = ProbeWatch(api, NAMESPACE, naming.managed_selector(), seen)
    version = watch._list()
    _delete(kube, "old-version")
    _apply(kube, _deployment("newer"))
    _compact_etcd(kube)
    # A restarted apiserver's watch cache starts from now, so only etcd could replay the
    # older events, and etcd has compacted them.
    kube.start_apiserver_again()
    with pytest.raises(Gone):
        watch._watch(version)
    # What run() does next: list again, which also reports the Deployment deleted meanwhile.
    watch._list()
    assert seen.snapshot()[-2:] == [(None, "newer"), ("DELETED", "old-version")]
    _delete(kube, "newer")
