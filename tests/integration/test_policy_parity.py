"""Parity for CxConversationPolicy: the real kube-apiserver and `cxj validate` agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tests.harness.kube import ControlPlane

from cxj_journey import schema
from cxj_journey.documents import read_documents
from cxj_journey.validate import validate_document

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "crds" / "examples" / "conversation-policy.yaml"
CORPUS = yaml.safe_load(
    (REPO / "tests" / "data" / "invalid_conversation_policies.yaml").read_text()
)
PLURAL = "cxconversationpolicies"

pytestmark = pytest.mark.kube


@pytest.fixture(scope="module")
def api(kube: ControlPlane) -> client.ApiClient:
    kube.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", f"crd/{PLURAL}.cxjourney.dev"
    )
    return config.new_client_from_config(str(kube.kubeconfig))


def server_verdict(api: client.ApiClient, document: dict[str, Any]) -> str | None:
    """Creates the policy with server-side dry-run and strict field validation.

    Returns None when the apiserver accepts it, else its error message.
    """
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            schema.GROUP,
            schema.VERSION,
            "default",
            PLURAL,
            document,
            dry_run="All",
            field_validation="Strict",
        )
    except ApiException as error:
        if error.status not in (400, 422):
            raise
        return str(error.body)
    return None


def server_defaults(api: client.ApiClient, document: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        schema.GROUP, schema.VERSION, "default", PLURAL, document, dry_run="All"
    )
    return created


def test_example_accepted_by_both(api: client.ApiClient) -> None:
    (document,) = read_documents(str(EXAMPLE))
    assert validate_document(document.body) == []
    assert server_verdict(api, document.body) is None


def test_corpus_base_accepted_by_both(api: client.ApiClient) -> None:
    assert validate_document(CORPUS["base"]) == []
    assert server_verdict(api, CORPUS["base"]) is None


def test_empty_spec_is_defaulted_alike(api: client.ApiClient) -> None:
    document = {
        "apiVersion": schema.API_VERSION,
        "kind": "CxConversationPolicy",
        "metadata": {"name": "defaults"},
        "spec": {},
    }
    local = schema.apply_defaults(document, schema.openapi_schema("CxConversationPolicy"))
    remote = server_defaults(api, document)
    assert remote["spec"] == local["spec"]


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["id"])
def test_mistake_rejected_by_both(api: client.ApiClient, case: dict[str, Any]) -> None:
    document = jsonpatch.apply_patch(CORPUS["base"], case["patch"])
    local = validate_document(document)
    server = server_verdict(api, document)
    assert local, f"cxj validate accepted {case['id']}"
    assert server is not None, f"kube-apiserver accepted {case['id']}"
