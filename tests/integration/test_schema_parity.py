"""Parity: the real kube-apiserver and `cxj validate` accept and reject the same documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tests.harness.kube import ControlPlane

from cxj_journey.documents import read_documents
from cxj_journey.validate import validate_document

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "crds" / "examples").glob("*.yaml"))
CORPUS = yaml.safe_load((REPO / "tests" / "data" / "invalid_journeys.yaml").read_text())

pytestmark = pytest.mark.kube
PLURALS = {"CxJourney": "cxjourneys", "CxConversationPolicy": "cxconversationpolicies"}


@pytest.fixture(scope="module")
def api(kube: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(str(kube.kubeconfig))


def server_verdict(api: client.ApiClient, document: dict[str, Any]) -> str | None:
    """Creates the document with server-side dry-run and strict field validation.

    Returns None when the apiserver accepts it, else its error message.
    """
    group, _, version = str(document.get("apiVersion", "")).partition("/")
    plural = PLURALS.get(str(document.get("kind")), "cxjourneys")
    try:
        client.CustomObjectsApi(api).create_namespaced_custom_object(
            group,
            version,
            "default",
            plural,
            document,
            dry_run="All",
            field_validation="Strict",
        )
    except ApiException as error:
        if error.status not in (400, 404, 422):
            raise
        return str(error.body)
    return None


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_accepted_by_both(api: client.ApiClient, path: Path) -> None:
    for document in read_documents(str(path)):
        assert validate_document(document.body) == []
        assert server_verdict(api, document.body) is None


def test_corpus_base_accepted_by_both(api: client.ApiClient) -> None:
    assert validate_document(CORPUS["base"]) == []
    assert server_verdict(api, CORPUS["base"]) is None


@pytest.mark.parametrize("case", CORPUS["cases"], ids=lambda c: c["id"])
def test_mistake_rejected_by_both(api: client.ApiClient, case: dict[str, Any]) -> None:
    document = jsonpatch.apply_patch(CORPUS["base"], case["patch"])
    local = validate_document(document)
    server = server_verdict(api, document)
    assert local, f"cxj validate accepted {case['id']}"
    assert server is not None, f"kube-apiserver accepted {case['id']}"
