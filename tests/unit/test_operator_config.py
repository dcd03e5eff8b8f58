"""Operator settings from flags and CXJ_OPERATOR_* variables, with errors that name the fix."""

from __future__ import annotations

import argparse

import pytest

from cxj_operator.cli import add_operator_parser
from cxj_operator.config import ConfigError, load_config


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_operator_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["operator", *argv])


def test_defaults_are_cluster_wide_with_leader_election() -> None:
    config = load_config(parse(), {})
    assert config.clusterwide
    assert config.namespaces == ()
    assert config.leader.enabled
    assert config.leader.lease_namespace == "cxj-system"
    assert config.experience.processor_url is None
    assert config.probe.resources.memory_limit == "256Mi"


def test_flags_win_over_environment() -> None:
    environ = {
        "CXJ_OPERATOR_PROBE_IMAGE": "from-env:1",
        "CXJ_OPERATOR_NAMESPACES": "a, b",
        "CXJ_OPERATOR_PROCESSOR_URL": "http://proc:8080/",
        "POD_NAMESPACE": "ops",
    }
    config = load_config(parse("--probe-image=from-flag:2"), environ)
    assert config.probe.image == "from-flag:2"
    assert config.namespaces == ("a", "b")
    assert config.experience.processor_url == "http://proc:8080"
    assert config.leader.lease_namespace == "ops"
    namespaced = load_config(
        parse(
            "--namespace=x",
            "--namespace=y",
            "--no-leader-election",
            "--probe-cpu-limit=none",
            "--probe-env=A=1",
        ),
        {},
    )
    assert namespaced.namespaces == ("x", "y")
    assert not namespaced.leader.enabled
    assert namespaced.probe.resources.cpu_limit is None
    assert namespaced.probe.extra_env == (("A", "1"),)


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        pytest.param(("--otlp-protocol=udp",), "--otlp-protocol", id="protocol"),
        pytest.param(("--probe-memory-limit=lots",), "--probe-memory-limit", id="quantity"),
        pytest.param(("--processor-url=proc:8080",), "--processor-url", id="url"),
        pytest.param(
            ("--lease-duration=5", "--lease-renew-interval=5"),
            "--lease-renew-interval",
            id="renew-not-shorter",
        ),
        pytest.param(("--experience-interval=-1",), "--experience-interval", id="negative"),
        pytest.param(("--probe-env=NOEQUALS",), "--probe-env", id="env-pair"),
        pytest.param(("--namespace=Not_A_Name",), "--namespace", id="namespace"),
        pytest.param(
            ("--probe-image-pull-policy=Sometimes",), "--probe-image-pull-policy", id="pull-policy"
        ),
    ],
)
def test_unusable_settings_name_the_flag(argv: tuple[str, ...], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        load_config(parse(*argv), {})
