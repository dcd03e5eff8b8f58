"""Builders against golden files: input CR → the exact manifests the operator applies.

Regenerate after an intended change with CXJ_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cxj_journey.model import parse_journey, secret_env_name
from cxj_operator.builders import BuildParams, build_children, config_hash, journey_document
from cxj_operator.config import ProbeSettings, Resources

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "operator"
OWNER_UID = "6f1c2a9e-0000-4000-8000-000000000001"
UPDATE = os.environ.get("CXJ_UPDATE_GOLDEN") == "1"

SETTINGS = {
    "defaults": ProbeSettings(),
    "otlp-and-custom-resources": ProbeSettings(
        image="registry.example.com/cxj:1.2.3",
        image_pull_policy="Always",
        resources=Resources(cpu_request="50m", memory_request="96Mi", cpu_limit=None),
        otlp_endpoint="http://otel-collector.monitoring:4317",
        otlp_protocol="grpc",
        otlp_headers="x-tenant=contact-center",
        extra_env=(("OTEL_EXPORTER_OTLP_INSECURE", "true"),),
    ),
}
CASES = [
    ("minimal", "defaults"),
    ("voice-call", "defaults"),
    ("placement-and-secrets", "otlp-and-custom-resources"),
]


class _Readable(yaml.SafeDumper):
    """Writes multi-line strings (the journey file) as YAML blocks, so diffs read well."""


def _block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Readable.add_representer(str, _block)


def _params(case: str, settings: str) -> BuildParams:
    document = yaml.safe_load((GOLDEN / f"{case}.input.yaml").read_text())
    return BuildParams(parse_journey(document), OWNER_UID, SETTINGS[settings])


@pytest.mark.parametrize(("case", "settings"), CASES, ids=[c for c, _ in CASES])
def test_builders_match_golden_manifests(case: str, settings: str) -> None:
    built = build_children(_params(case, settings))
    expected_path = GOLDEN / f"{case}.expected.yaml"
    rendered = yaml.dump_all(built, Dumper=_Readable, sort_keys=True, default_flow_style=False)
    if UPDATE:
        expected_path.write_text(rendered)
    assert expected_path.exists(), f"{expected_path} missing: run with CXJ_UPDATE_GOLDEN=1"
    expected = list(yaml.safe_load_all(expected_path.read_text()))
    assert built == expected, f"builders changed the {case} manifests; review, then regenerate"


@pytest.mark.parametrize(("case", "settings"), CASES, ids=[c for c, _ in CASES])
def test_every_child_is_owned_labelled_and_named_after_the_journey(
    case: str, settings: str
) -> None:
    params = _params(case, settings)
    for manifest in build_children(params):
        metadata = manifest["metadata"]
        assert metadata["namespace"] == params.journey.namespace
        assert metadata["name"].startswith(params.journey.name + "-")
        assert metadata["labels"]["cxjourney.dev/journey"] == params.journey.name
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "cxj-operator"
        (owner,) = metadata["ownerReferences"]
        assert owner == {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "name": params.journey.name,
            "uid": OWNER_UID,
            "controller": True,
        }


def _deployments(params: BuildParams) -> list[dict[str, Any]]:
    return [m for m in build_children(params) if m["kind"] == "Deployment"]


def test_probe_pods_are_locked_down() -> None:
    for deployment in _deployments(_params("placement-and-secrets", "defaults")):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        }


def test_credentials_reach_probes_as_secret_refs_and_never_the_config_map() -> None:
    params = _params("placement-and-secrets", "defaults")
    config_map, *_ = build_children(params)
    for deployment in _deployments(params):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        from_secrets = {
            e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
        }
        assert from_secrets == {
            secret_env_name(ref): {"name": ref.name, "key": ref.key}
            for ref in params.journey.secret_refs()
        }
        assert len(from_secrets) == 3
    # The ConfigMap names the Secrets (the probe resolves them) but holds no value.
    journey_file = config_map["data"]["journey.yaml"]
    assert "portal-credentials" in journey_file
    assert "valueFrom" in journey_file


def test_a_spec_change_changes_the_config_hash_and_nothing_else_does() -> None:
    document = yaml.safe_load((GOLDEN / "minimal.input.yaml").read_text())
    before = parse_journey(document)
    document["spec"]["interval"] = "30s"
    after = parse_journey(document)
    assert config_hash(before) != config_hash(after)
    assert config_hash(before) == config_hash(
        parse_journey(yaml.safe_load((GOLDEN / "minimal.input.yaml").read_text()))
    )
    relabelled = yaml.safe_load((GOLDEN / "minimal.input.yaml").read_text())
    relabelled["metadata"]["labels"] = {"team": "desk"}
    assert config_hash(parse_journey(relabelled)) == config_hash(before)


def test_the_probes_run_the_defaulted_spec_as_a_valid_journey() -> None:
    params = _params("voice-call", "defaults")
    document = journey_document(params.journey)
    again = parse_journey(yaml.safe_load(yaml.safe_dump(document)))
    assert again.spec == params.journey.spec
    assert (again.name, again.namespace) == ("voice-call", "contact-center")


def test_each_location_gets_its_own_deployment_with_its_rules() -> None:
    params = _params("placement-and-secrets", "defaults")
    fra, standby = _deployments(params)
    assert fra["spec"]["replicas"] == 2
    assert standby["spec"]["replicas"] == 0
    fra_pod = fra["spec"]["template"]["spec"]
    assert fra_pod["nodeSelector"]["topology.kubernetes.io/zone"] == "fra-1"
    assert fra_pod["tolerations"][0]["value"] == "probes"
    terms = fra_pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][0]["matchExpressions"][1]["operator"] == "DoesNotExist"
    assert "nodeSelector" not in standby["spec"]["template"]["spec"]
    assert fra["spec"]["selector"]["matchLabels"] == {
        "cxjourney.dev/journey": "secure-portal",
        "cxjourney.dev/location": "fra-dc",
    }
