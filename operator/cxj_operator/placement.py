"""Whether a location can be scheduled anywhere: its rules against the cluster's Nodes (pure).

A location is impossible when no Node satisfies all of: its nodeSelector, one of its
required node affinity terms, and every NoSchedule/NoExecute taint of the Node is
tolerated; cordoned Nodes do not count. Preferences and resources are not judged: the
scheduler may still wait for capacity, which shows as a rollout that does not finish.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cxj_journey.model import Location

_BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class NodeFacts:
    """The parts of a Node that decide whether a probe Pod may land on it."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Mapping[str, Any], ...]
    unschedulable: bool


def node_facts(node: Mapping[str, Any]) -> NodeFacts:
    """Reads a Node object."""
    spec = node.get("spec") or {}
    return NodeFacts(
        name=node["metadata"]["name"],
        labels=dict(node["metadata"].get("labels") or {}),
        taints=tuple(spec.get("taints") or ()),
        unschedulable=bool(spec.get("unschedulable", False)),
    )


def _tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = str(toleration.get("key", ""))
    operator = str(toleration.get("operator", "Equal"))
    if not key:
        return operator == "Exists"
    if key != taint.get("key"):
        return False
    return operator == "Exists" or str(toleration.get("value", "")) == str(taint.get("value", ""))


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and str(labels[key]) in values
    if operator == "NotIn":
        return key not in labels or str(labels[key]) not in values
    if operator == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist


def fits(location: Location, node: NodeFacts) -> bool:
    """Whether the location's probe Pods may be scheduled onto the node."""
    if node.unschedulable:
        return False
    if any(node.labels.get(k) != v for k, v in location.node_selector.items()):
        return False
    terms: Sequence[Mapping[str, Any]] = (location.node_affinity or {}).get("required") or ()
    if terms and not any(
        all(_expression_holds(e, node.labels) for e in term["matchExpressions"]) for term in terms
    ):
        return False
    return all(
        any(_tolerates(t, taint) for t in location.tolerations)
        for taint in node.taints
        if taint.get("effect") in _BLOCKING_EFFECTS
    )


def impossible_locations(locations: Iterable[Location], nodes: Sequence[NodeFacts]) -> list[str]:
    """One problem per location no Node can take, naming the rule to fix."""
    problems = []
    for index, location in enumerate(locations):
        if not any(fits(location, node) for node in nodes):
            problems.append(
                f"spec.locations[{index}] ({location.name}): no schedulable Node matches its "
                f"nodeSelector, required nodeAffinity and tolerations (of {len(nodes)} Node(s)); "
                "fix the location's rules or label a Node to match"
            )
    return problems
