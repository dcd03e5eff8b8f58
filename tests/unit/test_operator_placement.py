"""Which locations no Node can take: selectors, required affinity, taints and tolerations."""

from __future__ import annotations

from typing import Any

import pytest

from cxj_journey.model import Location
from cxj_operator.placement import NodeFacts, fits, impossible_locations, node_facts

LINUX = {"kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "lon-1", "type": "kwok"}
PROBES_ONLY = {"key": "dedicated", "value": "probes", "effect": "NoSchedule"}


def node(
    labels: dict[str, str] | None = None,
    taints: tuple[dict[str, Any], ...] = (),
    unschedulable: bool = False,
) -> NodeFacts:
    return NodeFacts("n1", labels if labels is not None else LINUX, taints, unschedulable)


@pytest.mark.parametrize(
    ("location", "candidate", "expected"),
    [
        pytest.param(Location("any", 1), node(), True, id="no-rules-any-node"),
        pytest.param(
            Location("lon", 1, {"topology.kubernetes.io/zone": "lon-1"}),
            node(),
            True,
            id="selector-matches",
        ),
        pytest.param(
            Location("nyc", 1, {"topology.kubernetes.io/zone": "nyc-1"}),
            node(),
            False,
            id="selector-differs",
        ),
        pytest.param(Location("any", 1), node(unschedulable=True), False, id="cordoned"),
        pytest.param(
            Location("any", 1), node(taints=(PROBES_ONLY,)), False, id="untolerated-taint"
        ),
        pytest.param(
            Location(
                "any",
                1,
                tolerations=({"key": "dedicated", "operator": "Equal", "value": "probes"},),
            ),
            node(taints=(PROBES_ONLY,)),
            True,
            id="tolerated-by-value",
        ),
        pytest.param(
            Location(
                "any", 1, tolerations=({"key": "dedicated", "operator": "Equal", "value": "other"},)
            ),
            node(taints=(PROBES_ONLY,)),
            False,
            id="wrong-value",
        ),
        pytest.param(
            Location("any", 1, tolerations=({"operator": "Exists"},)),
            node(taints=(PROBES_ONLY,)),
            True,
            id="tolerate-everything",
        ),
        pytest.param(
            Location(
                "any",
                1,
                tolerations=({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"},),
            ),
            node(taints=(PROBES_ONLY,)),
            False,
            id="wrong-effect",
        ),
        pytest.param(
            Location("any", 1),
            node(taints=({"key": "soft", "effect": "PreferNoSchedule"},)),
            True,
            id="prefer-no-schedule-does-not-block",
        ),
        pytest.param(
            Location(
                "arm",
                1,
                node_affinity={
                    "required": [
                        {
                            "matchExpressions": [
                                {"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}
                            ]
                        },
                        {"matchExpressions": [{"key": "type", "operator": "Exists"}]},
                    ]
                },
            ),
            node(),
            True,
            id="affinity-second-term-matches",
        ),
        pytest.param(
            Location(
                "arm",
                1,
                node_affinity={
                    "required": [
                        {
                            "matchExpressions": [
                                {"key": "type", "operator": "NotIn", "values": ["kwok"]}
                            ]
                        },
                    ]
                },
            ),
            node(),
            False,
            id="affinity-not-in",
        ),
        pytest.param(
            Location(
                "x",
                1,
                node_affinity={
                    "required": [
                        {"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]},
                    ]
                },
            ),
            node(),
            True,
            id="affinity-does-not-exist",
        ),
    ],
)
def test_fits(location: Location, candidate: NodeFacts, expected: bool) -> None:
    assert fits(location, candidate) is expected


def test_impossible_locations_name_the_location_and_the_fix() -> None:
    locations = [
        Location("lon", 1, {"topology.kubernetes.io/zone": "lon-1"}),
        Location("mars", 1, {"planet": "mars"}),
    ]
    (problem,) = impossible_locations(locations, [node()])
    assert problem.startswith("spec.locations[1] (mars)")
    assert "label a Node" in problem


def test_a_cluster_without_nodes_takes_no_location() -> None:
    assert len(impossible_locations([Location("any", 1)], [])) == 1


def test_node_facts_read_a_node() -> None:
    found = node_facts(
        {
            "metadata": {"name": "a", "labels": {"x": "y"}},
            "spec": {"taints": [PROBES_ONLY], "unschedulable": True},
        }
    )
    assert found == NodeFacts("a", {"x": "y"}, (PROBES_ONLY,), True)
    assert node_facts({"metadata": {"name": "b"}}) == NodeFacts("b", {}, (), False)
