"""The CRD files in crds/ as the one schema: locating them and turning them into JSON Schema."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

GROUP = "cxjourney.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

# Kinds this distribution defines, with the CRD file that holds each schema.
CRD_FILES = {
    "CxJourney": "cxjourney.dev_cxjourneys.yaml",
    "CxConversationPolicy": "cxjourney.dev_cxconversationpolicies.yaml",
}


def crds_dir() -> Path:
    """Returns the folder holding the CRD files.

    CXJ_CRDS_DIR wins (container images set it); otherwise the repository's crds/ folder
    next to the source roots.
    """
    override = os.environ.get("CXJ_CRDS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "crds"


@dataclass(frozen=True)
class CelRule:
    """One x-kubernetes-validations rule and where in the document it applies."""

    path: tuple[str, ...]
    rule: str
    message: str
    field_path: str = ""  # where under the node the apiserver reports it, e.g. ".slo"


@cache
def load_crd(kind: str) -> dict[str, Any]:
    """Returns the parsed CustomResourceDefinition for a kind."""
    path = crds_dir() / CRD_FILES[kind]
    with path.open(encoding="utf-8") as handle:
        crd: dict[str, Any] = yaml.safe_load(handle)
    return crd


def openapi_schema(kind: str, version: str = VERSION) -> dict[str, Any]:
    """Returns the openAPIV3Schema of one served version of a kind's CRD."""
    for served in load_crd(kind)["spec"]["versions"]:
        if served["name"] == version:
            schema: dict[str, Any] = served["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"{kind} has no version {version}")


@cache
def json_schema(kind: str, version: str = VERSION) -> dict[str, Any]:
    """Returns the openAPIV3Schema as a JSON Schema that rejects unknown fields.

    The apiserver rejects unknown fields under strict field validation (kubectl's default),
    which structural schemas express by pruning rather than by additionalProperties; the
    local validator says the same thing explicitly.
    """
    schema = copy.deepcopy(openapi_schema(kind, version))
    _close_objects(schema, at_root=True)
    return schema


def _close_objects(node: dict[str, Any], *, at_root: bool = False) -> None:
    if "properties" in node:
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            node["additionalProperties"] = False
        for name, child in node["properties"].items():
            if at_root and name == "metadata":
                continue  # The rest of ObjectMeta is validated by the apiserver's own rules.
            _close_objects(child)
    if isinstance(node.get("items"), dict):
        _close_objects(node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        _close_objects(node["additionalProperties"])


def cel_rules(kind: str, version: str = VERSION) -> Iterator[CelRule]:
    """Yields every CEL rule in the schema with the path of the node that carries it.

    Array items appear in the path as "[]".
    """

    def walk(node: dict[str, Any], path: tuple[str, ...]) -> Iterator[CelRule]:
        for entry in node.get("x-kubernetes-validations", []):
            yield CelRule(path, entry["rule"], entry["message"], entry.get("fieldPath", ""))
        for name, child in node.get("properties", {}).items():
            yield from walk(child, (*path, name))
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], (*path, "[]"))

    yield from walk(openapi_schema(kind, version), ())


def apply_defaults(document: Any, schema: dict[str, Any]) -> Any:
    """Returns a copy of the document with the schema's defaults filled in, as the apiserver does.

    Defaults apply to missing fields of objects that are present; a defaulted object gets
    its own nested defaults in turn.
    """
    if isinstance(document, dict):
        result = {key: value for key, value in document.items()}
        for name, child_schema in schema.get("properties", {}).items():
            if name not in result and "default" in child_schema:
                result[name] = copy.deepcopy(child_schema["default"])
            if name in result:
                result[name] = apply_defaults(result[name], child_schema)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for name, value in result.items():
                if name not in schema.get("properties", {}):
                    result[name] = apply_defaults(value, extra)
        return result
    if isinstance(document, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(item, schema["items"]) for item in document]
    return document
