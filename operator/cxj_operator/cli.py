"""`cxj operator`: run the CxJourney operator until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from cxj_operator.config import ENV_PREFIX, ConfigError, load_config

# Flags with a value: (name, help). Each also reads CXJ_OPERATOR_<NAME> when not given.
_VALUE_FLAGS = {
    "kubeconfig": "kubeconfig file (default: $KUBECONFIG, else the in-cluster ServiceAccount)",
    "context": "kubeconfig context (default: the current one)",
    "probe_image": "image of the probe containers (default cxjourney/cxj:<version>)",
    "probe_image_pull_policy": "Always, IfNotPresent (default) or Never",
    "probe_cpu_request": "probe CPU request (default 10m)",
    "probe_memory_request": "probe memory request (default 64Mi)",
    "probe_cpu_limit": "probe CPU limit (default 500m; 'none' for no limit)",
    "probe_memory_limit": "probe memory limit (default 256Mi; 'none' for no limit)",
    "otlp_endpoint": "OTEL_EXPORTER_OTLP_ENDPOINT given to probes (e.g. http://otel-collector:4317)",
    "otlp_protocol": "OTEL_EXPORTER_OTLP_PROTOCOL given to probes: grpc or http/protobuf",
    "otlp_headers": "OTEL_EXPORTER_OTLP_HEADERS given to probes (key=value,...)",
    "processor_url": "the processor's status API, e.g. http://cxj-processor:8080 "
    "(default: none, status.experience says so)",
    "experience_interval": "seconds between experience refreshes (default 30)",
    "experience_max_age": "seconds after which an unchanged summary is rewritten (default 300)",
    "processor_timeout": "seconds to wait for the processor (default 3)",
    "lease_name": "the Lease replicas elect a leader on (default cxj-operator)",
    "lease_namespace": "namespace of the Lease (default: $POD_NAMESPACE, else cxj-system)",
    "lease_duration": "seconds a leader's Lease lasts without renewal (default 15)",
    "lease_renew_interval": "seconds between the leader's renewals (default 5)",
    "lease_retry_interval": "seconds between a standby's attempts (default 2)",
    "identity": "this replica's name in the Lease (default: $POD_NAME, else host-pid)",
    "workers": "threads running reconciles (default 16)",
    "unhonourable_retry": "seconds before a spec that cannot be honoured is checked again "
    "(default 60)",
    "liveness": "serve kopf's liveness endpoint here, e.g. http://0.0.0.0:8080/healthz",
    "log_level": "DEBUG, INFO (default), WARNING or ERROR",
}


def _run(args: argparse.Namespace) -> int:
    from cxj_operator.runner import run_operator

    level = args.log_level or os.environ.get(ENV_PREFIX + "LOG_LEVEL") or "INFO"
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if level.upper() != "DEBUG":
        # kopf reports every handler call at INFO; its warnings and errors still show.
        logging.getLogger("kopf").setLevel(logging.WARNING)
    try:
        config = load_config(args, os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return run_operator(config)


def add_operator_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj operator`."""
    parser = sub.add_parser(
        "operator",
        help="run the Kubernetes operator that turns CxJourneys into probe Deployments",
        description="Reconcile CxJourney resources into a ConfigMap, a ServiceAccount and one "
        "probe Deployment per location, and keep their status (readiness and the live "
        "experience summary from the processor) current. Every flag can also be set as "
        f"{ENV_PREFIX}<FLAG> (e.g. {ENV_PREFIX}PROBE_IMAGE). Replicas elect one leader "
        "on a Lease; SIGTERM releases it.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        action="append",
        metavar="NAMESPACE",
        help="watch only this namespace (repeatable; or "
        f"{ENV_PREFIX}NAMESPACES=a,b); default: every namespace",
    )
    scope.add_argument(
        "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    for name, text in _VALUE_FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, help=text)
    parser.add_argument(
        "--probe-env",
        action="append",
        metavar="NAME=VALUE",
        help="an extra environment variable for probes, e.g. OTEL_EXPORTER_OTLP_INSECURE=true "
        "(repeatable)",
    )
    parser.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="elect one active replica on a Lease (default: on)",
    )
    parser.add_argument(
        "--check-locations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="refuse locations no Node can take (default: on; needs nodes list)",
    )
    parser.set_defaults(run=_run)


def main(argv: list[str] | None = None) -> int:
    """Runs `cxj operator` on its own (python -m cxj_operator)."""
    parser = argparse.ArgumentParser(prog="cxj")
    add_operator_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["operator", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.run(args)
    return code
