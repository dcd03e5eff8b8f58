"""The operator's settings, parsed once at start-up from flags and CXJ_OPERATOR_* variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cxj_journey import __version__

ENV_PREFIX = "CXJ_OPERATOR_"
DEFAULT_PROBE_IMAGE = f"cxjourney/cxj:{__version__}"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
OTLP_PROTOCOLS = ("grpc", "http/protobuf")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the flag and the fix."""


@dataclass(frozen=True)
class Resources:
    """Compute requests and limits of one probe container (Kubernetes quantities)."""

    cpu_request: str = "10m"
    memory_request: str = "64Mi"
    cpu_limit: str | None = "500m"
    memory_limit: str | None = "256Mi"


@dataclass(frozen=True)
class ProbeSettings:
    """How probe Pods are built: image, resources and where their telemetry goes."""

    image: str = DEFAULT_PROBE_IMAGE
    image_pull_policy: str = "IfNotPresent"
    resources: Resources = field(default_factory=Resources)
    otlp_endpoint: str | None = None
    otlp_protocol: str | None = None
    otlp_headers: str | None = None
    extra_env: tuple[tuple[str, str], ...] = ()
    run_as_user: int = 65532


@dataclass(frozen=True)
class LeaderSettings:
    """Lease-based leader election between operator replicas."""

    enabled: bool = True
    lease_name: str = "cxj-operator"
    lease_namespace: str = "cxj-system"
    identity: str = ""
    lease_duration_s: float = 15.0
    renew_interval_s: float = 5.0
    retry_interval_s: float = 2.0


@dataclass(frozen=True)
class ExperienceSettings:
    """Where the experience summary comes from and how often it is refreshed."""

    processor_url: str | None = None
    interval_s: float = 30.0
    timeout_s: float = 3.0
    max_age_s: float = 300.0


@dataclass(frozen=True)
class OperatorConfig:
    """Everything the operator needs to know, fixed for the life of the process."""

    namespaces: tuple[str, ...] = ()  # empty: every namespace (cluster-wide)
    kubeconfig: str | None = None  # None: in-cluster ServiceAccount
    context: str | None = None
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    experience: ExperienceSettings = field(default_factory=ExperienceSettings)
    check_locations: bool = True
    workers: int = 16
    unhonourable_retry_s: float = 60.0
    liveness: str | None = None

    @property
    def clusterwide(self) -> bool:
        """Whether the operator watches every namespace."""
        return not self.namespaces


def _pick(args: Any, name: str, environ: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    return environ.get(ENV_PREFIX + name.upper())


def _number(args: Any, name: str, environ: Mapping[str, str], default: float) -> float:
    raw = _pick(args, name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"--{name.replace('_', '-')}: expected a number of seconds, got {raw!r}"
        ) from None
    if value <= 0:
        raise ConfigError(f"--{name.replace('_', '-')}: must be positive, got {raw!r}")
    return value


def _flag(args: Any, name: str, environ: Mapping[str, str], default: bool) -> bool:
    raw = _pick(args, name, environ)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name.upper()}: expected true or false, got {raw!r}")


def _quantity(args: Any, name: str, environ: Mapping[str, str], default: str | None) -> str | None:
    raw = _pick(args, name, environ)
    if raw is None:
        return default
    if raw in ("", "none"):
        return None
    if not _QUANTITY.match(raw):
        raise ConfigError(
            f"--{name.replace('_', '-')}: {raw!r} is not a Kubernetes quantity "
            "such as 100m or 128Mi"
        )
    return raw


def _env_pairs(items: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ConfigError(f"--probe-env: expected NAME=VALUE, got {item!r}")
        pairs.append((name, value))
    return tuple(pairs)


def _namespaces(args: Any, environ: Mapping[str, str]) -> tuple[str, ...]:
    if getattr(args, "all_namespaces", False):
        return ()
    listed = list(getattr(args, "namespace", None) or [])
    if not listed and environ.get(ENV_PREFIX + "NAMESPACES"):
        listed = [n.strip() for n in environ[ENV_PREFIX + "NAMESPACES"].split(",") if n.strip()]
    for name in listed:
        if not _DNS_LABEL.match(name):
            raise ConfigError(f"--namespace: {name!r} is not a namespace name")
    return tuple(dict.fromkeys(listed))


def default_identity(environ: Mapping[str, str]) -> str:
    """This replica's name in the Lease: the Pod name when set, else host and process id."""
    return environ.get("POD_NAME") or f"{os.uname().nodename}-{os.getpid()}"


def load_config(args: Any, environ: Mapping[str, str]) -> OperatorConfig:
    """Builds the configuration from parsed flags, falling back to CXJ_OPERATOR_* variables.

    Raises:
        ConfigError: naming the flag and the fix, when a setting is unusable.
    """
    pull_policy = _pick(args, "probe_image_pull_policy", environ) or "IfNotPresent"
    if pull_policy not in PULL_POLICIES:
        raise ConfigError(
            f"--probe-image-pull-policy: expected one of {', '.join(PULL_POLICIES)}, "
            f"got {pull_policy!r}"
        )
    protocol = _pick(args, "otlp_protocol", environ)
    if protocol is not None and protocol not in OTLP_PROTOCOLS:
        raise ConfigError(
            f"--otlp-protocol: expected one of {', '.join(OTLP_PROTOCOLS)}, got {protocol!r}"
        )
    processor_url = _pick(args, "processor_url", environ)
    if processor_url and not processor_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--processor-url: expected an http(s) URL such as http://cxj-processor:8080, "
            f"got {processor_url!r}"
        )
    probe = ProbeSettings(
        image=_pick(args, "probe_image", environ) or DEFAULT_PROBE_IMAGE,
        image_pull_policy=pull_policy,
        resources=Resources(
            cpu_request=_quantity(args, "probe_cpu_request", environ, "10m") or "10m",
            memory_request=_quantity(args, "probe_memory_request", environ, "64Mi") or "64Mi",
            cpu_limit=_quantity(args, "probe_cpu_limit", environ, "500m"),
            memory_limit=_quantity(args, "probe_memory_limit", environ, "256Mi"),
        ),
        otlp_endpoint=_pick(args, "otlp_endpoint", environ),
        otlp_protocol=protocol,
        otlp_headers=_pick(args, "otlp_headers", environ),
        extra_env=_env_pairs(list(getattr(args, "probe_env", None) or [])),
    )
    renew = _number(args, "lease_renew_interval", environ, 5.0)
    duration = _number(args, "lease_duration", environ, 15.0)
    if renew >= duration:
        raise ConfigError(
            f"--lease-renew-interval ({renew:g}s) must be shorter than --lease-duration "
            f"({duration:g}s), or the lease lapses between renewals"
        )
    leader = LeaderSettings(
        enabled=_flag(args, "leader_election", environ, True),
        lease_name=_pick(args, "lease_name", environ) or "cxj-operator",
        lease_namespace=(
            _pick(args, "lease_namespace", environ) or environ.get("POD_NAMESPACE") or "cxj-system"
        ),
        identity=_pick(args, "identity", environ) or default_identity(environ),
        lease_duration_s=duration,
        renew_interval_s=renew,
        retry_interval_s=_number(args, "lease_retry_interval", environ, 2.0),
    )
    experience = ExperienceSettings(
        processor_url=processor_url.rstrip("/") if processor_url else None,
        interval_s=_number(args, "experience_interval", environ, 30.0),
        timeout_s=_number(args, "processor_timeout", environ, 3.0),
        max_age_s=_number(args, "experience_max_age", environ, 300.0),
    )
    workers = int(_number(args, "workers", environ, 16))
    return OperatorConfig(
        namespaces=_namespaces(args, environ),
        kubeconfig=_pick(args, "kubeconfig", environ) or environ.get("KUBECONFIG") or None,
        context=_pick(args, "context", environ),
        probe=probe,
        leader=leader,
        experience=experience,
        check_locations=_flag(args, "check_locations", environ, True),
        workers=workers,
        unhonourable_retry_s=_number(args, "unhonourable_retry", environ, 60.0),
        liveness=_pick(args, "liveness", environ),
    )
