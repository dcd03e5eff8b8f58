"""Status ownership on the real apiserver: fields an earlier release owned do not go stale.

Earlier releases wrote status.experience under a second field manager. A field both managers
own stays when one of them drops it, so after an upgrade a score the processor no longer
reports would stay in status for good, unless the earlier manager's ownership is released.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.harness.kube import ControlPlane

from cxj_operator import kube as kube_api
from cxj_operator import naming
from cxj_operator.config import ExperienceSettings, OperatorConfig
from cxj_operator.experience import refresh_experience
from cxj_operator.experience_view import OK, UNREACHABLE, Reading
from cxj_operator.inventory import Inventory
from cxj_operator.reconcile import Services

NAMESPACE = "default"
NAME = "upgraded-desk"


def _journey() -> dict[str, Any]:
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {
            "type": "agent-desktop",
            "steps": [{"name": "open-desktop", "http": {"url": "http://127.0.0.1:18080/"}}],
            "locations": [{"name": "hq"}],
        },
    }


def _get(kube: ControlPlane) -> dict[str, Any]:
    path = f"/apis/{naming.API_VERSION}/namespaces/{NAMESPACE}/cxjourneys/{NAME}"
    return dict(kube.get(path))


def test_an_earlier_releases_experience_fields_are_released_and_then_dropped(
    kube: ControlPlane,
) -> None:
    kube.kubectl("apply", "-f", "-", input_text=json.dumps(_journey()))
    api = kube_api.KubeApi(kube_api.load_configuration(str(kube.kubeconfig), None))
    try:
        # What an earlier release left: experience with a score, under its own manager. The
        # first reading after the upgrade reports the same score, so both managers own it
        # (a different value would have moved the ownership on its own).
        earlier = {"experience": {"source": "processor http://p", "score": 71}}
        api.apply_status(NAMESPACE, NAME, earlier, naming.LEGACY_EXPERIENCE_MANAGER)

        inventory = Inventory()
        inventory.observe_journey("ADDED", _get(kube))
        services = Services(
            api=api,
            config=OperatorConfig(experience=ExperienceSettings(processor_url="http://p")),
            inventory=inventory,
            nodes=None,  # type: ignore[arg-type]
            identity="test",
            clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        )
        key = (NAMESPACE, NAME)
        summary = {"score": 71, "firing": [], "suspectedLayer": "none"}
        refresh_experience(services, key, Reading(OK, summary))
        body = _get(kube)
        assert body["status"]["experience"]["score"] == 71
        managers = {entry["manager"] for entry in body["metadata"]["managedFields"]}
        assert naming.LEGACY_EXPERIENCE_MANAGER not in managers
        assert naming.FIELD_MANAGER in managers

        # The processor goes away: the score must go with it, not stay as 71.
        refresh_experience(services, key, Reading(UNREACHABLE, detail="down", shared=True))
        experience = _get(kube)["status"]["experience"]
        assert "score" not in experience
        assert experience["source"] == "processor unreachable: down"
    finally:
        kube.kubectl("delete", "cxjourney", NAME, "-n", NAMESPACE, "--wait=true")
        api.close()
