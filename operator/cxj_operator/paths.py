"""Where the objects the operator touches live in the Kubernetes API (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from cxj_operator import naming

# The kinds the operator writes: where each lives in the API.
PLURALS = {
    "ConfigMap": "configmaps",
    "ServiceAccount": "serviceaccounts",
    "Deployment": "deployments",
    naming.KIND: naming.PLURAL,
    "Lease": "leases",
    "Event": "events",
    "Secret": "secrets",
}


def collection_path(api_version: str, kind: str, namespace: str | None) -> str:
    """The API path of a kind's collection, namespaced when a namespace is given."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{quote(namespace)}" if namespace else ""
    return f"{root}{scope}/{PLURALS[kind]}"


def object_path(manifest: Mapping[str, Any]) -> str:
    """The API path of one object from its manifest."""
    metadata = manifest["metadata"]
    base = collection_path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"))
    return f"{base}/{quote(metadata['name'])}"
