"""The Helm chart and the images it runs: lint, renders, schemas, RBAC parity, hardening.

Renders are compared with golden files under tests/golden/helm/; regenerate them after an
intended change with CXJ_UPDATE_GOLDEN=1 and review the diff. Offline validation uses the
Kubernetes OpenAPI schemas bundled in kubernetes-validate; tests/integration/
test_helm_install.py validates the same renders against the real apiserver.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.processes import REPO, infra_paths

from cxj_cli.main import build_parser
from cxj_operator.cli import add_operator_parser
from cxj_operator.config import load_config as load_operator_config
from cxj_processors.cli import add_processor_parser
from cxj_processors.config import load_config as load_processor_config

CHART = REPO / "helm" / "cxjourney"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
GOLDEN = REPO / "tests" / "golden" / "helm"
DOCKERFILE = REPO / "images" / "Dockerfile"
UPDATE = os.environ.get("CXJ_UPDATE_GOLDEN") == "1"
RELEASE, NAMESPACE = "cxj", "cxj-system"
# Kinds whose schema kubernetes-validate does not bundle; the integration test checks them
# against their real CRDs on the test apiserver.
CUSTOM_KINDS = {"ServiceMonitor"}


def kube_version() -> str:
    """The test control plane's Kubernetes version, as scripts/build-infra.sh builds it."""
    script = (REPO / "scripts" / "build-infra.sh").read_text()
    match = re.search(r"K8S_VERSION=\$\{K8S_VERSION:-(v[0-9.]+)\}", script)
    assert match, "scripts/build-infra.sh: K8S_VERSION default not found"
    return match.group(1)


@functools.cache
def helm() -> str:
    """The helm binary scripts/build-infra.sh builds (or reuses from its cache)."""
    return str(infra_paths("helm")["helm"] / "helm")


def run_helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [helm(), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {shlex.join(args)} failed:\n{result.stderr}{result.stdout}")
    return result


def template_text(values: Path | None = None, *extra: str) -> str:
    args = ["template", RELEASE, str(CHART), "-n", NAMESPACE, "--kube-version", kube_version()]
    if values is not None:
        args += ["-f", str(values)]
    return run_helm(*args, *extra).stdout


@functools.cache
def rendered(values: Path | None = None) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(template_text(values)) if d]


def find(documents: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    matches = [d for d in documents if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"expected one {kind} *{suffix}, found {len(matches)}"
    return matches[0]


def pod_templates(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in documents
        if d["kind"] in ("Deployment", "Job")
    ]


VALUES_IDS = [p.name.removesuffix("-values.yaml") for p in CI_VALUES]


# -- lint, golden renders, offline validation --------------------------------------------
@pytest.mark.parametrize("values", CI_VALUES, ids=VALUES_IDS)
def test_helm_lint_strict_passes(values: Path) -> None:
    result = run_helm(
        "lint", "--strict", str(CHART), "-f", str(values), "--kube-version", kube_version()
    )
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", CI_VALUES, ids=VALUES_IDS)
def test_render_matches_golden(values: Path) -> None:
    text = template_text(values)
    golden = GOLDEN / f"{values.name.removesuffix('-values.yaml')}.yaml"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.exists(), f"{golden} missing: run with CXJ_UPDATE_GOLDEN=1"
    expected = golden.read_text()
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), "golden", "rendered", lineterm="", n=2
        )
        pytest.fail(
            f"{golden.name} differs (review, then CXJ_UPDATE_GOLDEN=1):\n" + "\n".join(diff)
        )


@pytest.mark.parametrize("values", CI_VALUES, ids=VALUES_IDS)
def test_render_is_valid_against_kubernetes_schemas(values: Path) -> None:
    import kubernetes_validate

    version = kube_version().removeprefix("v")
    unknown = set()
    for document in rendered(values):
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            unknown.add(document["kind"])
        except kubernetes_validate.ValidationError as error:
            name = f"{document['kind']}/{document['metadata']['name']}"
            pytest.fail(f"{values.name}: {name}: {error}")
    assert unknown <= CUSTOM_KINDS


def test_chart_crds_are_the_repository_crds() -> None:
    ours = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert sorted(chart) == sorted(ours), "copy crds/*.yaml to helm/cxjourney/crds/"
    for name, body in ours.items():
        assert chart[name] == body, f"helm/cxjourney/crds/{name} differs from crds/{name}"


def test_crds_validate_as_custom_resource_definitions() -> None:
    import kubernetes_validate

    for path in (CHART / "crds").glob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, kube_version().removeprefix("v"), strict=True)


# -- RBAC is the operator's own ----------------------------------------------------------
def test_chart_rbac_file_is_deploy_rbac() -> None:
    chart_copy = CHART / "files" / "operator-rbac.yaml"
    assert chart_copy.read_bytes() == (REPO / "deploy/rbac/operator.yaml").read_bytes(), (
        "copy deploy/rbac/operator.yaml to helm/cxjourney/files/operator-rbac.yaml"
    )


def test_operator_rbac_rules_equal_deploy_rbac() -> None:
    deploy = [d for d in yaml.safe_load_all((REPO / "deploy/rbac/operator.yaml").read_text()) if d]
    chart = rendered(None)
    assert find(chart, "ClusterRole")["rules"] == find(deploy, "ClusterRole")["rules"]
    assert find(chart, "Role")["rules"] == find(deploy, "Role")["rules"]
    binding = find(chart, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{RELEASE}-cxjourney-operator", "namespace": NAMESPACE}
    ]
    operator = find(chart, "Deployment", "-operator")["spec"]["template"]["spec"]
    assert operator["serviceAccountName"] == f"{RELEASE}-cxjourney-operator"


def test_processor_has_no_api_access() -> None:
    chart = rendered(None)
    processor = find(chart, "Deployment", "-processor")["spec"]["template"]["spec"]
    assert processor["automountServiceAccountToken"] is False
    bound = {s["name"] for d in chart if d["kind"].endswith("Binding") for s in d["subjects"]}
    assert processor["serviceAccountName"] not in bound


# -- values: documented, typed, refused when wrong ---------------------------------------
def _undocumented(node: yaml.MappingNode, lines: list[str], path: str) -> list[str]:
    missing = []
    for key, value in node.value:
        line = key.start_mark.line - 1
        comments = []
        while line >= 0 and lines[line].strip().startswith("#"):
            comments.append(lines[line])
            line -= 1
        name = f"{path}{key.value}"
        if any("# --" in c for c in comments):
            continue
        if isinstance(value, yaml.MappingNode) and value.value:
            missing += _undocumented(value, lines, f"{name}.")
        else:
            missing.append(name)
    return missing


def test_every_value_is_documented() -> None:
    text = (CHART / "values.yaml").read_text()
    root = yaml.compose(text)
    assert isinstance(root, yaml.MappingNode)
    assert _undocumented(root, text.splitlines(), "") == []


def _schema_gaps(values: Any, schema: dict[str, Any], path: str) -> list[str]:
    if "description" not in schema and path:
        return [f"{path}: no description"]
    if not isinstance(values, dict) or "properties" not in schema:
        return []
    gaps = []
    for key, value in values.items():
        if key not in schema["properties"]:
            gaps.append(f"{path}{key}: not in values.schema.json")
        else:
            gaps += _schema_gaps(value, schema["properties"][key], f"{path}{key}.")
    return gaps


def test_every_value_is_in_the_schema() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert _schema_gaps(values, schema, "") == []


REFUSED = [
    ("unknown-key", "operator.replicaz=2", "replicaz"),
    ("two-operator-replicas", "operator.replicas=2", "/operator/replicas"),
    ("otlp-protocol", "operator.probe.otlp.protocol=udp", "/operator/probe/otlp/protocol"),
    ("export-endpoint-is-host-port", "processor.export.endpoint=http://c:4317", "/export/endpoint"),
    ("log-level", "operator.logLevel=verbose", "/operator/logLevel"),
    ("quantity", "operator.probe.resources.requests.cpu=lots", "/requests/cpu"),
    ("lease-name", "operator.leaderElection.leaseName=Not_A_Name", "/leaseName"),
]


@pytest.mark.parametrize(
    ("setting", "expected"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_schema_refuses_bad_values(setting: str, expected: str) -> None:
    result = run_helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        kube_version(),
        "--set",
        setting,
        check=False,
    )
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert expected in result.stderr


def test_persistence_with_several_processor_replicas_is_refused() -> None:
    result = run_helm(
        "template",
        RELEASE,
        str(CHART),
        "--kube-version",
        kube_version(),
        "--set",
        "processor.persistence.enabled=true",
        "--set",
        "processor.replicas=2",
        check=False,
    )
    assert result.returncode != 0
    assert "set processor.replicas to 1" in result.stderr


# -- the commands in the Pods are real command lines -------------------------------------
def _container(documents: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    pod = find(documents, "Deployment", suffix)["spec"]["template"]["spec"]
    container: dict[str, Any] = pod["containers"][0]
    return container


def _environment(container: dict[str, Any]) -> dict[str, str]:
    env = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            env[item["name"]] = f"<from {next(iter(item['valueFrom']))}>"
    return env


def _parse(register: Any, command: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cxj", exit_on_error=False)
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(command)


OPERATOR_CASES = {
    "default": (
        "cxjourney/probe:0.1.0",
        "http://cxj-cxjourney-processor.cxj-system.svc:4317",
        "500m",
        (),
    ),
    "hardened": (
        "registry.example.com/contact-center/cxjourney/probe:0.1.0",
        "http://cxj-cxjourney-processor.cxj-system.svc:4317",
        None,
        ("support", "sales"),
    ),
    "operator-only": ("cxjourney/probe:0.1.0", "https://otlp.example.com:4317", "500m", ()),
}


@pytest.mark.parametrize("case", sorted(OPERATOR_CASES))
def test_operator_arguments_are_accepted_by_cxj_operator(case: str) -> None:
    image, endpoint, cpu_limit, namespaces = OPERATOR_CASES[case]
    container = _container(rendered(CHART / "ci" / f"{case}-values.yaml"), "-operator")
    assert container["command"] == ["cxj"]
    args = _parse(add_operator_parser, container["args"])
    env = _environment(container) | {"POD_NAME": "op-0", "POD_NAMESPACE": NAMESPACE}
    config = load_operator_config(args, env)
    assert config.probe.image == image
    assert config.probe.otlp_endpoint == endpoint
    assert config.probe.resources.cpu_limit == cpu_limit
    assert config.namespaces == namespaces
    assert config.leader.lease_namespace == NAMESPACE
    assert config.liveness == "http://0.0.0.0:8080/healthz"


def test_processor_arguments_and_environment_are_accepted_by_cxj_processor() -> None:
    container = _container(rendered(CHART / "ci" / "hardened-values.yaml"), "-processor")
    assert container["command"] == ["cxj"]
    args = _parse(add_processor_parser, container["args"])
    env = _environment(container)
    flags = {name: getattr(args, name) for name in vars(args) if name not in ("command", "run")}
    config = load_processor_config(args.config, env, flags)
    assert config.grpc_listen == "0.0.0.0:4317"
    assert config.status_listen == "0.0.0.0:8080"
    assert config.data_dir == "/var/lib/cxjourney"
    assert config.export_endpoint == "otlp.vendor.example.com:4317"
    assert config.export_insecure is False
    assert env["CXJ_PROCESSOR_EXPORT_HEADERS"] == "<from secretKeyRef>"


# -- hardening ---------------------------------------------------------------------------
@pytest.mark.parametrize("values", CI_VALUES, ids=VALUES_IDS)
def test_every_pod_is_hardened(values: Path) -> None:
    for name, pod in pod_templates(rendered(values)):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{name}: numba and Python need a writable /tmp"
            if name.startswith("Deployment/"):
                assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)


@pytest.mark.parametrize("values", CI_VALUES, ids=VALUES_IDS)
def test_disruption_budgets_and_network_policies_select_real_pods(values: Path) -> None:
    documents = rendered(values)
    pod_labels = [
        d["spec"]["template"]["metadata"]["labels"] for d in documents if d["kind"] == "Deployment"
    ]
    for document in documents:
        if document["kind"] == "PodDisruptionBudget":
            selector = document["spec"]["selector"]["matchLabels"]
        elif document["kind"] == "NetworkPolicy":
            selector = document["spec"]["podSelector"]["matchLabels"]
        else:
            continue
        assert any(selector.items() <= labels.items() for labels in pod_labels), document


# -- the Grafana dashboard reads the telemetry contract ----------------------------------
CONTRACT_DOCS = ("telemetry.md", "conversations.md")
CONTRACT_ROW = re.compile(
    r"^\| `(cx\.[a-z_.]+)`((?:, `[a-z_.]+`)*) \| (counter|gauge|histogram[^|]*) \| `?([^|`]*)`? \|"
)


def _prometheus_name(name: str, kind: str, unit: str) -> set[str]:
    """A contract metric as the collector's Prometheus exporter names it (units as suffixes)."""
    base = name.replace(".", "_")
    suffix = {"s": "_seconds", "1": "_ratio", "{event}/min": "_per_min"}.get(unit, "")
    if kind == "counter":
        return {f"{base}{'' if base.endswith(suffix) else suffix}_total"}
    if kind.startswith("histogram"):
        return {f"{base}{suffix}_{part}" for part in ("bucket", "sum", "count")}
    return {base if base.endswith(suffix) else base + suffix}


def _contract_names() -> set[str]:
    """Every metric the docs list (docs/telemetry.md, docs/conversations.md), Prometheus-named."""
    names: set[str] = set()
    for doc in CONTRACT_DOCS:
        path = REPO / "docs" / doc
        lines = path.read_text().splitlines() if path.exists() else []
        for match in filter(None, map(CONTRACT_ROW.match, lines)):
            first, more, kind, unit = match.groups()
            prefix = first.rsplit(".", 1)[0]
            for name in [first, *re.findall(r"`([a-z_.]+)`", more)]:
                full = name if name.startswith("cx.") else f"{prefix}{name}"
                names |= _prometheus_name(full, kind, unit.strip())
    return names


def test_dashboard_queries_only_contract_metrics() -> None:
    dashboard = json.loads((CHART / "dashboards" / "cxjourney-overview.json").read_text())
    text = json.dumps(dashboard)
    used = set(re.findall(r"\b(cx_[a-z0-9_]+)\s*\{", text))
    used |= set(re.findall(r"label_values\((cx_[a-z0-9_]+)", text))
    contract = _contract_names()
    assert used <= contract, (
        f"not in docs/{' or docs/'.join(CONTRACT_DOCS)}: {sorted(used - contract)}"
    )
    for needed in (
        "cx_journey_experience_score_ratio",
        "cx_journey_slo_error_budget_remaining_ratio",
        "cx_journey_slo_burn_rate_ratio",
        "cx_journey_attribution_ratio",
        "cx_journey_voice_mos_ratio",
        "cx_journey_runs_total",
        "cx_conversation_silence_ratio",
        "cx_conversation_talkover_rate_per_min",
        "cx_conversation_escalation_rate_ratio",
    ):
        assert needed in used, f"the dashboard shows no {needed}"


def test_dashboard_configmap_carries_the_dashboard() -> None:
    configmap = find(rendered(CHART / "ci" / "observability-stack-values.yaml"), "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["cxjourney-overview.json"])
    assert dashboard["uid"] == "cxjourney-overview"


# -- images ------------------------------------------------------------------------------
def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    steps = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, rest = stripped.partition(" ")
            steps.append((instruction.upper(), rest.strip()))
    return steps


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for instruction, rest in _dockerfile():
        if instruction == "FROM":
            base, _, name = rest.partition(" AS ")
            current = name.strip() or base
            stages[current] = [("FROM", base.strip())]
        elif current is not None:
            stages[current].append((instruction, rest))
    return stages


def _inherited(stages: dict[str, list[tuple[str, str]]], stage: str, instruction: str) -> str:
    for step, rest in reversed(stages[stage]):
        if step == instruction:
            return rest
    base = stages[stage][0][1]
    assert base in stages, f"{stage}: no {instruction} in the stage or its base"
    return _inherited(stages, base, instruction)


def test_base_image_is_pinned_to_an_exact_release() -> None:
    args = dict(rest.split("=", 1) for step, rest in _dockerfile() if step == "ARG" and "=" in rest)
    bases = {rest.partition(" AS ")[0] for step, rest in _dockerfile() if step == "FROM"}
    external = {args.get(b.strip("${}"), b) for b in bases if b.strip("${}") in args}
    assert external, "no base image found"
    for image in external:
        assert re.fullmatch(r"[a-z0-9./-]+:\d+\.\d+\.\d+-[a-z0-9-]+(@sha256:[0-9a-f]{64})?", image)


@pytest.mark.parametrize("target", ["operator", "probe", "processor"])
def test_image_targets_run_cxj_as_non_root(target: str) -> None:
    stages = _stages()
    assert target in stages
    user = _inherited(stages, target, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit(), f"{target}: USER {user} must be a numeric uid"
    assert int(uid) != 0, f"{target}: USER {user} must not be root"
    env = _inherited(stages, target, "ENV")
    assert "NUMBA_CACHE_DIR=/tmp/numba-cache" in env
    assert "CXJ_CRDS_DIR=/usr/share/cxjourney/crds" in env
    entrypoint = json.loads(_inherited(stages, target, "ENTRYPOINT"))
    command = json.loads(_inherited(stages, target, "CMD"))
    assert entrypoint == ["cxj"]
    assert command[0] == target
    args = build_parser().parse_args(command)
    assert args.command == target


def test_chart_pods_run_the_image_commands() -> None:
    documents = rendered(None)
    for suffix in ("-operator", "-processor"):
        container = _container(documents, suffix)
        image = container["image"]
        assert image.split("/")[-1].split(":")[0] == suffix.removeprefix("-"), image
        assert container["command"] == ["cxj"]
        assert container["args"][0] == suffix.removeprefix("-")


def test_chart_app_version_is_the_package_version() -> None:
    from cxj_journey import __version__

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__, "images are tagged with the package version"
