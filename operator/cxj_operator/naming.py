"""Every name, label and annotation the operator gives the objects it manages (pure)."""

from __future__ import annotations

GROUP = "cxjourney.dev"
VERSION = "v1alpha1"
PLURAL = "cxjourneys"
KIND = "CxJourney"
API_VERSION = f"{GROUP}/{VERSION}"

FIELD_MANAGER = "cxj-operator"
# Earlier releases wrote status.experience and ExperienceDegraded under a second manager;
# its ownership is released at the first status write, so fields dropped later go away.
LEGACY_EXPERIENCE_MANAGER = "cxj-operator-experience"
EVENT_SOURCE = "cxj-operator"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "cxj-operator"
JOURNEY_LABEL = f"{GROUP}/journey"
LOCATION_LABEL = f"{GROUP}/location"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"

JOURNEY_FILE = "journey.yaml"
JOURNEY_MOUNT = "/etc/cxjourney"
HEALTH_PORT = 8081
LOCATION_ENV = "CXJ_LOCATION"
PROBE_CONTAINER = "probe"


def config_map_name(journey: str) -> str:
    """The ConfigMap holding the journey document the probes run."""
    return f"{journey}-journey"


def service_account_name(journey: str) -> str:
    """The ServiceAccount the journey's probe Pods run as."""
    return f"{journey}-probe"


def deployment_name(journey: str, location: str) -> str:
    """The probe Deployment of one location."""
    return f"{journey}-probe-{location}"


def common_labels(journey: str) -> dict[str, str]:
    """Labels on every child of a journey; the prune step selects children by them."""
    return {
        "app.kubernetes.io/name": "cxj-probe",
        "app.kubernetes.io/instance": journey,
        "app.kubernetes.io/part-of": "cxjourney",
        MANAGED_BY_LABEL: MANAGED_BY,
        JOURNEY_LABEL: journey,
    }


def probe_selector(journey: str, location: str) -> dict[str, str]:
    """The (immutable) selector of a location's probe Deployment."""
    return {JOURNEY_LABEL: journey, LOCATION_LABEL: location}


def children_selector(journey: str) -> str:
    """The label selector matching every child of a journey."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{JOURNEY_LABEL}={journey}"


def managed_selector() -> str:
    """The label selector matching every object this operator manages."""
    return f"{MANAGED_BY_LABEL}={MANAGED_BY}"
