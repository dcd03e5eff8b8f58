"""Prints the field reference of the CxJourney CRD as Markdown (docs/reference/cxjourney.md).

Run `make docs` after changing the CRD; a unit test fails while the page is out of date.
"""

from __future__ import annotations

import sys
from typing import Any

from cxj_journey import schema


def _constraints(node: dict[str, Any]) -> str:
    parts = []
    if "enum" in node:
        parts.append("one of " + ", ".join(f"`{v}`" for v in node["enum"]))
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    for key, label in (
        ("minimum", "min"),
        ("maximum", "max"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("maxLength", "max length"),
    ):
        if key in node:
            parts.append(f"{label} {node[key]}")
    for rule in node.get("x-kubernetes-validations", []):
        parts.append(f"rule: {rule['message']}")
    return "; ".join(parts).replace("|", "\\|")


def _row(path: str, kind: str, required: bool, default: str, node: dict[str, Any]) -> str:
    description = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
    needed = "yes" if required else ""
    return f"| `{path}` | {kind} | {needed} | {default} | {description} | {_constraints(node)} |"


def _rows(node: dict[str, Any], path: str, required: bool) -> list[str]:
    kind = node.get("type", "")
    if kind == "array" and isinstance(node.get("items"), dict):
        kind = f"[]{node['items'].get('type', '')}"
    default = f"`{node['default']}`" if "default" in node else ""
    rows = [_row(path, kind, required, default, node)]
    children = node.get("properties", {})
    needed = set(node.get("required", []))
    if isinstance(node.get("items"), dict):
        item = node["items"]
        children = item.get("properties", {})
        needed = set(item.get("required", []))
        path = f"{path}[]"
        if item.get("x-kubernetes-validations"):
            rows.append(_row(path, "object", False, "", item))
    for name, child in children.items():
        rows.extend(_rows(child, f"{path}.{name}", name in needed))
    return rows


def render() -> str:
    """Returns the Markdown reference page."""
    root = schema.openapi_schema("CxJourney")
    lines = [
        "# CxJourney v1alpha1 field reference",
        "",
        "Generated from `crds/cxjourney.dev_cxjourneys.yaml` by `make docs`; do not edit by hand.",
        "",
        "| field | type | required | default | description | constraints |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for section in ("spec", "status"):
        lines.extend(
            _rows(root["properties"][section], section, section in root.get("required", []))
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
