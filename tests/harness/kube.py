"""A real Kubernetes control plane for tests: etcd, kube-apiserver and, for Pods, the rest.

envtest style: loopback only, free ports, data on tmpfs, RBAC on, the admin authenticated by
a client certificate made here. With pods=True it adds kube-controller-manager,
kube-scheduler and kwok with fake Nodes, so Deployments really roll out and Pods become
Ready without a container runtime.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from tests.harness.pki import Pki, make_pki
from tests.harness.processes import Process, free_port, infra_paths, logs_dir

FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def kube_assets() -> dict[str, Path]:
    """Returns the folders holding the binaries: KUBEBUILDER_ASSETS, else the project's cache.

    KUBEBUILDER_ASSETS (as setup-envtest prints it) must hold kube-apiserver and etcd;
    kubectl, kube-controller-manager, kube-scheduler and kwok are taken from it when
    present there, else from the cache.
    """
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        folder = Path(assets)
        found = {
            name: folder
            for name in (
                "kube-apiserver",
                "etcd",
                "kubectl",
                "kube-controller-manager",
                "kube-scheduler",
                "kwok",
            )
            if (folder / name).exists()
        }
        missing = {"kube-controller-manager", "kube-scheduler", "kwok", "kubectl"} - set(found)
        if not missing:
            return found
    else:
        found = {}
    built = infra_paths("etcd", "kubernetes", "kwok")
    defaults = {
        "kube-apiserver": built["kubernetes"],
        "kubectl": built["kubernetes"],
        "kube-controller-manager": built["kubernetes"],
        "kube-scheduler": built["kubernetes"],
        "etcd": built["etcd"],
        "kwok": built["kwok"],
    }
    return {**defaults, **found}


class ControlPlane:
    """etcd + kube-apiserver (+ controller-manager, scheduler, kwok) on loopback."""

    def __init__(self, root: Path | None = None) -> None:
        self.assets = kube_assets()
        shm = Path("/dev/shm")
        base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.root = root or Path(tempfile.mkdtemp(prefix="cxj-kube-", dir=base))
        self.log_dir = logs_dir() / f"kube-{self.root.name}"
        self.pki: Pki = make_pki(self.root / "pki")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = self.root / "admin.kubeconfig"
        self.processes: dict[str, Process] = {}
        self.pods_enabled = False

    # -- binaries -----------------------------------------------------------------------
    def binary(self, name: str) -> str:
        """Returns the path of one of the control plane's binaries."""
        return str(self.assets[name] / name)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> ControlPlane:
        """Starts etcd and kube-apiserver and waits until the apiserver is ready."""
        atexit.register(self.stop)  # also when the run that started it is interrupted
        self._write_kubeconfig()
        self._start_etcd()
        self._start_apiserver()
        return self

    def start_apiserver_again(self) -> None:
        """Restarts only kube-apiserver (its state lives in etcd)."""
        self.processes["kube-apiserver"].stop()
        self._start_apiserver()

    def enable_pods(self, nodes: int = 2) -> None:
        """Adds controller-manager, scheduler and kwok, and registers fake Nodes."""
        if self.pods_enabled:
            return
        kcm = Process(
            "kube-controller-manager",
            [
                self.binary("kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--authentication-skip-lookup=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                "--use-service-account-credentials=true",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
            self.log_dir,
        ).start()
        scheduler = Process(
            "kube-scheduler",
            [
                self.binary("kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--authentication-skip-lookup=true",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
            self.log_dir,
        ).start()
        stages = sorted((self.assets["kwok"] / "stages").glob("*.yaml"))
        kwok = Process(
            "kwok",
            [
                self.binary("kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                *(f"--config={stage}" for stage in stages),
            ],
            self.log_dir,
        ).start()
        self.processes.update({p.name: p for p in (kcm, scheduler, kwok)})
        for index in range(nodes):
            self.apply_manifest(fake_node(f"kwok-node-{index}"))
        kcm.wait_until(self._default_service_account_exists, 60, "creating ServiceAccounts")
        self.pods_enabled = True

    def stop(self) -> None:
        """Stops every process (newest first) and removes the data folder."""
        atexit.unregister(self.stop)
        for process in reversed(list(self.processes.values())):
            process.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- API access ---------------------------------------------------------------------
    def kubectl(
        self, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Runs the real kubectl against this control plane as the admin.

        Raises:
            RuntimeError: with kubectl's own error output, when check is set and it fails.
        """
        result = subprocess.run(
            [self.binary("kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            check=False,
            capture_output=True,
            text=True,
            input=input_text,
            timeout=120,
        )
        if check and result.returncode != 0:
            command = " ".join(args)
            raise RuntimeError(f"kubectl {command} failed ({result.returncode}):\n{result.stderr}")
        return result

    def apply_manifest(self, manifest: dict[str, Any]) -> None:
        """Server-side applies one manifest as the admin."""
        self.kubectl(
            "apply",
            "--server-side",
            "--field-manager=cxj-tests",
            "-f",
            "-",
            input_text=json.dumps(manifest),
        )

    def ssl_context(self) -> ssl.SSLContext:
        """Returns a TLS context that trusts the apiserver and presents the admin certificate."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return context

    def get(self, path: str) -> Any:
        """GETs an API path as the admin and returns the decoded JSON."""
        with urllib.request.urlopen(
            self.url + path, context=self.ssl_context(), timeout=10
        ) as response:
            return json.load(response)

    def service_account_kubeconfig(
        self, account: str, namespace: str, path: Path, duration: str = "2h"
    ) -> Path:
        """Writes a kubeconfig that acts as a ServiceAccount, with a freshly minted token.

        RBAC tests run the operator this way, so a missing or excess permission shows.
        """
        token = self.kubectl(
            "create", "token", account, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        path.write_text(self._kubeconfig(account, {"token": token}))
        return path

    # -- internals ----------------------------------------------------------------------
    def _kubeconfig(
        self, user: str, credentials: dict[str, str], namespace: str | None = None
    ) -> str:
        """A kubeconfig (JSON) for this apiserver acting as user with these credentials."""
        context = {"cluster": "cxj-test", "user": user}
        if namespace is not None:
            context["namespace"] = namespace
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "cxj-test",
                        "cluster": {
                            "server": self.url,
                            "certificate-authority": str(self.pki.ca_cert),
                        },
                    }
                ],
                "users": [{"name": user, "user": credentials}],
                "contexts": [{"name": "cxj-test", "context": context}],
                "current-context": "cxj-test",
            },
            indent=2,
        )

    def _write_kubeconfig(self) -> None:
        admin = {
            "client-certificate": str(self.pki.admin_cert),
            "client-key": str(self.pki.admin_key),
        }
        self.kubeconfig.write_text(self._kubeconfig("cxj-test-admin", admin, "default"))

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        etcd = Process(
            "etcd",
            [
                self.binary("etcd"),
                "--name=default",
                f"--data-dir={self.root / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            self.log_dir,
        ).start()
        self.processes["etcd"] = etcd

        def healthy() -> bool:
            with urllib.request.urlopen(self.etcd_url + "/health", timeout=2) as response:
                return bool(json.load(response).get("health") == "true")

        etcd.wait_until(healthy, 60, "healthy")

    def _start_apiserver(self) -> None:
        apiserver = Process(
            "kube-apiserver",
            [
                self.binary("kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={self.root / 'apiserver-certs'}",
                f"--tls-cert-file={self.pki.serving_cert}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                f"--secure-port={self.port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={self.pki.sa_pub}",
                f"--service-account-signing-key-file={self.pki.sa_key}",
                "--allow-privileged=true",
                "--max-requests-inflight=1000",
                "--max-mutating-requests-inflight=500",
            ],
            self.log_dir,
        ).start()
        self.processes["kube-apiserver"] = apiserver
        apiserver.wait_until(self._readyz, 90, "ready")

    def _readyz(self) -> bool:
        request = urllib.request.Request(self.url + "/readyz")
        with urllib.request.urlopen(request, context=self.ssl_context(), timeout=2) as response:
            return bool(response.status == 200)

    def _default_service_account_exists(self) -> bool:
        return bool(self.get("/api/v1/namespaces/default/serviceaccounts/default"))


def fake_node(name: str) -> dict[str, Any]:
    """Returns a Node that kwok manages (annotated kwok.x-k8s.io/node=fake)."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


def get_json(kube: ControlPlane, *args: str) -> Any:
    """`kubectl get ... -o json` as the admin; None when the object does not exist."""
    result = kube.kubectl("get", *args, "-o", "json", check=False)
    if result.returncode != 0:
        if "NotFound" in result.stderr:
            return None
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)
