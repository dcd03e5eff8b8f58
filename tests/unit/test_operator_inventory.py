"""The operator's in-memory view of probe Deployments: newer facts are never replaced by older."""

from __future__ import annotations

from typing import Any

from cxj_operator import naming
from cxj_operator.inventory import Inventory


def deployment(resource_version: str, ready: int, uid: str = "d-1") -> dict[str, Any]:
    return {
        "metadata": {
            "name": "desk-probe-hq",
            "namespace": "cx",
            "uid": uid,
            "resourceVersion": resource_version,
            "generation": 1,
            "labels": {naming.JOURNEY_LABEL: "desk", naming.LOCATION_LABEL: "hq"},
            "ownerReferences": [{"uid": "j-1", "controller": True}],
        },
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "readyReplicas": ready},
    }  # fmt: skip


def test_an_apply_response_older_than_the_watch_does_not_undo_readiness() -> None:
    inventory = Inventory()
    # The watch saw the rollout finish before the reconcile handed in its apply's response.
    inventory.observe_probe("MODIFIED", deployment("120", ready=1))
    inventory.observe_probe("MODIFIED", deployment("117", ready=0))
    assert inventory.probes(("cx", "desk"))["hq"].ready == 1


def test_newer_facts_replace_older_and_a_new_deployment_replaces_the_old_one() -> None:
    inventory = Inventory()
    inventory.observe_probe("MODIFIED", deployment("117", ready=0))
    inventory.observe_probe("MODIFIED", deployment("120", ready=1))
    assert inventory.probes(("cx", "desk"))["hq"].ready == 1
    inventory.observe_probe("ADDED", deployment("5", ready=0, uid="d-2"))  # recreated
    facts = inventory.probes(("cx", "desk"))["hq"]
    assert (facts.uid, facts.ready) == ("d-2", 0)
