"""Pure builders: a journey and the probe settings in, the children's manifests out.

One builder per kind, one params object, no clock, no environment, no API calls. The
reconcile applies exactly what these return, so their golden files are the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml

from cxj_journey.model import Journey, Location, secret_env_name, spec_revision
from cxj_operator import naming
from cxj_operator.config import ProbeSettings

Manifest = dict[str, Any]


@dataclass(frozen=True)
class BuildParams:
    """Everything a builder may use: the parsed journey, its owner's uid and probe settings."""

    journey: Journey
    owner_uid: str
    probe: ProbeSettings

    @cached_property
    def journey_file(self) -> str:
        """The journey file, rendered once however many children need it."""
        return journey_file(self.journey)

    @cached_property
    def config_hash(self) -> str:
        """The hash of the journey file that rolls the probes when it changes."""
        return spec_revision({naming.JOURNEY_FILE: self.journey_file})


def owner_reference(params: BuildParams) -> dict[str, Any]:
    """The owner reference that lets garbage collection delete a child with its journey."""
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "name": params.journey.name,
        "uid": params.owner_uid,
        "controller": True,
    }


def _metadata(
    params: BuildParams, name: str, extra_labels: dict[str, str] | None = None
) -> Manifest:
    return {
        "name": name,
        "namespace": params.journey.namespace,
        "labels": {**naming.common_labels(params.journey.name), **(extra_labels or {})},
        "ownerReferences": [owner_reference(params)],
    }


def journey_document(journey: Journey) -> Manifest:
    """The CxJourney document the probes run: the defaulted spec, never a credential."""
    return {
        "apiVersion": naming.API_VERSION,
        "kind": naming.KIND,
        "metadata": {"name": journey.name, "namespace": journey.namespace},
        "spec": journey.spec,
    }


# libyaml's emitter when PyYAML has it: the same text, several times faster.
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def journey_file(journey: Journey) -> str:
    """The journey document as the YAML text mounted into the probes."""
    return yaml.dump(
        journey_document(journey), Dumper=_Dumper, sort_keys=True, default_flow_style=False
    )


def config_hash(journey: Journey) -> str:
    """A short hash of what the probes run; it changes the Pod template, so probes roll."""
    return spec_revision({naming.JOURNEY_FILE: journey_file(journey)})


def build_config_map(params: BuildParams) -> Manifest:
    """The ConfigMap with the journey file the probes load."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(params, naming.config_map_name(params.journey.name)),
        "data": {naming.JOURNEY_FILE: params.journey_file},
    }


def build_service_account(params: BuildParams) -> Manifest:
    """The probes' own ServiceAccount; it holds no API permissions and mounts no token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(params, naming.service_account_name(params.journey.name)),
        "automountServiceAccountToken": False,
    }


def _resources(probe: ProbeSettings) -> dict[str, dict[str, str]]:
    settings = probe.resources
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request}
    }
    limits = {
        key: value
        for key, value in (("cpu", settings.cpu_limit), ("memory", settings.memory_limit))
        if value is not None
    }
    if limits:
        resources["limits"] = limits
    return resources


def _environment(params: BuildParams, location: Location) -> list[dict[str, Any]]:
    probe = params.probe
    env: list[dict[str, Any]] = [{"name": naming.LOCATION_ENV, "value": location.name}]
    otlp = (
        ("OTEL_EXPORTER_OTLP_ENDPOINT", probe.otlp_endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", probe.otlp_protocol),
        ("OTEL_EXPORTER_OTLP_HEADERS", probe.otlp_headers),
    )
    env.extend({"name": name, "value": value} for name, value in otlp if value is not None)
    env.extend({"name": name, "value": value} for name, value in probe.extra_env)
    env.extend(
        {
            "name": secret_env_name(ref),
            "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
        }
        for ref in params.journey.secret_refs()
    )
    return env


def _affinity(location: Location) -> dict[str, Any] | None:
    terms = (location.node_affinity or {}).get("required")
    if not terms:
        return None
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": term["matchExpressions"]} for term in terms
                ]
            }
        }
    }


def _container(params: BuildParams, location: Location) -> Manifest:
    health = {"httpGet": {"path": "/readyz", "port": "health"}, "periodSeconds": 10}
    return {
        "name": naming.PROBE_CONTAINER,
        "image": params.probe.image,
        "imagePullPolicy": params.probe.image_pull_policy,
        "command": ["cxj"],
        "args": [
            "probe",
            "--journey",
            f"{naming.JOURNEY_MOUNT}/{naming.JOURNEY_FILE}",
            "--health-listen",
            f"0.0.0.0:{naming.HEALTH_PORT}",
        ],
        "env": _environment(params, location),
        "ports": [{"name": "health", "containerPort": naming.HEALTH_PORT, "protocol": "TCP"}],
        "readinessProbe": health,
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "health"},
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "resources": _resources(params.probe),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "journey", "mountPath": naming.JOURNEY_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def build_deployment(params: BuildParams, location: Location) -> Manifest:
    """One location's probe Deployment, placed by the location's scheduling rules."""
    journey = params.journey
    selector = naming.probe_selector(journey.name, location.name)
    pod_labels = {**naming.common_labels(journey.name), **selector}
    pod_spec: Manifest = {
        "serviceAccountName": naming.service_account_name(journey.name),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": params.probe.run_as_user,
            "runAsGroup": params.probe.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(params, location)],
        "volumes": [
            {
                "name": "journey",
                "configMap": {"name": naming.config_map_name(journey.name)},
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
        ],
    }
    if location.node_selector:
        pod_spec["nodeSelector"] = dict(location.node_selector)
    if location.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in location.tolerations]
    affinity = _affinity(location)
    if affinity is not None:
        pod_spec["affinity"] = affinity
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(
            params,
            naming.deployment_name(journey.name, location.name),
            {naming.LOCATION_LABEL: location.name},
        ),
        "spec": {
            "replicas": location.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {naming.CONFIG_HASH_ANNOTATION: params.config_hash},
                },
                "spec": pod_spec,
            },
        },
    }


def build_children(params: BuildParams) -> list[Manifest]:
    """The whole desired set of a journey's children, in the order they are applied."""
    return [
        build_config_map(params),
        build_service_account(params),
        *(build_deployment(params, location) for location in params.journey.locations),
    ]
