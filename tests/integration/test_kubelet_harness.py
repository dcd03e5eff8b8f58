"""The test kubelet runs a Deployment's Pods as real processes and reports their readiness."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.harness.kube import ControlPlane
from tests.harness.kubelet import NODE_LABEL, NODE_LABEL_VALUE, ProcessKubelet

pytestmark = pytest.mark.pods


@pytest.fixture(scope="module")
def kubelet(kube_pods: ControlPlane) -> Iterator[ProcessKubelet]:
    running = ProcessKubelet(kube_pods.kubeconfig).start()
    yield running
    running.stop()


def test_a_deployment_runs_as_processes_with_its_config_and_env(
    kube_pods: ControlPlane, kubelet: ProcessKubelet
) -> None:
    kube_pods.kubectl("create", "namespace", "kubelet-check")
    kube_pods.apply_manifest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "page", "namespace": "kubelet-check"},
            "data": {"index.html": "served from a ConfigMap volume"},
        }
    )
    kube_pods.apply_manifest(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "kubelet-check"},
            "stringData": {"token": "s3cret"},
        }
    )
    # Mount paths and container ports in the command are mapped by the test kubelet.
    script = (
        "import os,sys,http.server,functools;"
        "host,port=sys.argv[1].rsplit(':',1);"
        "open('/srv/page/env.txt','w').write(os.environ['TOKEN']+' '+os.environ['POD']);"
        "h=functools.partial(http.server.SimpleHTTPRequestHandler,directory='/srv/page');"
        "http.server.ThreadingHTTPServer((host,int(port)),h).serve_forever()"
    )
    kube_pods.apply_manifest(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "kubelet-check"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "nodeSelector": {NODE_LABEL: NODE_LABEL_VALUE},
                        "containers": [
                            {
                                "name": "web",
                                "image": "not-pulled:0",
                                "command": ["python", "-c", script, "0.0.0.0:8000"],
                                "ports": [{"containerPort": 8000}],
                                "env": [
                                    {
                                        "name": "TOKEN",
                                        "valueFrom": {
                                            "secretKeyRef": {"name": "creds", "key": "token"}
                                        },
                                    },
                                    {
                                        "name": "POD",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                    },
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/index.html", "port": 8000}
                                },
                                "volumeMounts": [{"name": "page", "mountPath": "/srv/page"}],
                            }
                        ],
                        "volumes": [{"name": "page", "configMap": {"name": "page"}}],
                    },
                },
            },
        }
    )
    kube_pods.kubectl("rollout", "status", "-n", "kubelet-check", "deployment/web", "--timeout=90s")
    pods = json.loads(kube_pods.kubectl("get", "pods", "-n", "kubelet-check", "-o", "json").stdout)[
        "items"
    ]
    assert [p["spec"]["nodeName"] for p in pods] == ["proc-node"]
    (running,) = [p for p in kubelet.pods.values() if p.namespace == "kubelet-check"]
    assert running.process.poll() is None
    assert running.ready_url is not None
    import urllib.request

    with urllib.request.urlopen(running.ready_url, timeout=5) as response:
        assert response.read().decode() == "served from a ConfigMap volume"
    env_url = running.ready_url.replace("/index.html", "/env.txt")
    with urllib.request.urlopen(env_url, timeout=5) as response:
        assert response.read().decode() == f"s3cret {pods[0]['metadata']['name']}"

    kube_pods.kubectl("delete", "namespace", "kubelet-check", "--wait=true", "--timeout=90s")
    running.process.wait(timeout=30)  # the kubelet stops the Pod's process
