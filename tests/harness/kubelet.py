"""A test kubelet: runs the Pods bound to one node as local processes. Test tooling only.

It plays the kubelet's part for a single node so the Deployments the operator builds really
run: each container's exact command, args and env (valueFrom resolved for ConfigMaps,
Secrets and the downward API) start as a local process from the project's own
environment; ConfigMap and Secret volumes are written under a per-Pod root and their mount
paths in args and env are mapped there; readiness comes from the container's httpGet
readinessProbe (or the process being alive); deletion stops the process. Images are not
pulled. Container ports are mapped to free loopback ports (as a container runtime maps
ports), rewriting `:PORT` in args and env, because every Pod here shares one network.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.harness.processes import REPO, free_port, logs_dir

NODE_LABEL = "cxjourney.dev/runner"
NODE_LABEL_VALUE = "processes"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RunningPod:
    """One Pod's process and what the harness made for it."""

    namespace: str
    name: str
    uid: str
    root: Path
    process: subprocess.Popen[bytes]
    ready_url: str | None
    ready: bool = False
    log_path: Path = field(default_factory=Path)


class ProcessKubelet:
    """Registers a node and runs the Pods bound to it as processes."""

    def __init__(
        self, kubeconfig: Path, node: str = "proc-node", labels: dict[str, str] | None = None
    ) -> None:
        self.node = node
        self.labels = labels or {}
        self.api = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.coordination = client.CoordinationV1Api(self.api)
        self.pods: dict[str, RunningPod] = {}
        self.root = Path(tempfile.mkdtemp(prefix="cxj-kubelet-"))
        self.log_dir = logs_dir() / f"kubelet-{self.root.name}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    # -- node ---------------------------------------------------------------------------
    def start(self) -> ProcessKubelet:
        """Registers the node and starts watching Pods and heartbeating."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    NODE_LABEL: NODE_LABEL_VALUE,
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    **self.labels,
                },
            },
            "spec": {},
        }
        with contextlib.suppress(ApiException):
            self.core.create_node(body)
        self._heartbeat()
        for target in (self._watch_pods, self._heartbeat_forever, self._probe_readiness):
            thread = threading.Thread(target=target, daemon=True, name=f"kubelet-{target.__name__}")
            thread.start()
            self._threads.append(thread)
        return self

    def _heartbeat(self) -> None:
        status = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "test kubelet running Pods as processes",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                "nodeInfo": {
                    "kubeletVersion": "v1.36.3-processes",
                    "containerRuntimeVersion": "processes://1",
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                    "kernelVersion": "",
                    "osImage": "",
                    "kubeProxyVersion": "",
                    "bootID": "",
                    "machineID": "",
                    "systemUUID": "",
                },
            }
        }
        self.core.patch_node_status(self.node, status)
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": 40,
                "renewTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
        }
        try:
            self.coordination.replace_namespaced_lease(self.node, "kube-node-lease", lease)
        except ApiException as error:
            if error.status != 404:
                raise
            self.coordination.create_namespaced_lease("kube-node-lease", lease)

    def _heartbeat_forever(self) -> None:
        while not self._stop.wait(5):
            with contextlib.suppress(Exception):
                self._heartbeat()

    # -- pods ---------------------------------------------------------------------------
    def _watch_pods(self) -> None:
        while not self._stop.is_set():
            stream = watch.Watch()
            try:
                for event in stream.stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={self.node}",
                    timeout_seconds=30,
                ):
                    if self._stop.is_set():
                        break
                    self._handle(event["type"], event["object"])
            except Exception:  # the apiserver may restart under tests; watch again
                self._stop.wait(0.5)

    def _handle(self, kind: str, pod: client.V1Pod) -> None:
        key = pod.metadata.uid
        if kind == "DELETED" or pod.metadata.deletion_timestamp is not None:
            running = self.pods.pop(key, None)
            if running is not None:
                self._terminate(running)
            if kind != "DELETED":
                with contextlib.suppress(ApiException):
                    self.core.delete_namespaced_pod(
                        pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                    )
            return
        if key not in self.pods:
            try:
                self.pods[key] = self._launch(pod)
            except Exception as error:  # report like a kubelet: the Pod fails to start
                self._report(
                    pod.metadata.namespace,
                    pod.metadata.name,
                    ready=False,
                    phase="Pending",
                    message=f"cannot start: {error}",
                )

    def _resolve_env(self, pod: client.V1Pod, container: client.V1Container) -> dict[str, str]:
        env: dict[str, str] = {}
        namespace = pod.metadata.namespace
        for item in container.env or []:
            if item.value is not None:
                env[item.name] = item.value
                continue
            source = item.value_from
            if source.config_map_key_ref is not None:
                ref = source.config_map_key_ref
                data = self.core.read_namespaced_config_map(ref.name, namespace).data or {}
                env[item.name] = data[ref.key]
            elif source.secret_key_ref is not None:
                ref = source.secret_key_ref
                data = self.core.read_namespaced_secret(ref.name, namespace).data or {}
                env[item.name] = base64.b64decode(data[ref.key]).decode()
            elif source.field_ref is not None:
                env[item.name] = {
                    "metadata.name": pod.metadata.name,
                    "metadata.namespace": namespace,
                    "metadata.uid": pod.metadata.uid,
                    "spec.nodeName": self.node,
                    "status.podIP": "127.0.0.1",
                    "status.hostIP": "127.0.0.1",
                    "spec.serviceAccountName": pod.spec.service_account_name or "default",
                }[source.field_ref.field_path]
        return env

    def _materialise(
        self, pod: client.V1Pod, container: client.V1Container, root: Path
    ) -> dict[str, str]:
        volumes = {v.name: v for v in pod.spec.volumes or []}
        mounts: dict[str, str] = {}
        for mount in container.volume_mounts or []:
            volume = volumes.get(mount.name)
            target = root / mount.mount_path.lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            if volume is not None and volume.config_map is not None:
                data = (
                    self.core.read_namespaced_config_map(
                        volume.config_map.name, pod.metadata.namespace
                    ).data
                    or {}
                )
                for key, value in data.items():
                    (target / key).write_text(value)
            elif volume is not None and volume.secret is not None:
                data = (
                    self.core.read_namespaced_secret(
                        volume.secret.secret_name, pod.metadata.namespace
                    ).data
                    or {}
                )
                for key, value in data.items():
                    (target / key).write_bytes(base64.b64decode(value))
            mounts[mount.mount_path] = str(target)
        return mounts

    def _launch(self, pod: client.V1Pod) -> RunningPod:
        (container,) = pod.spec.containers
        root = self.root / pod.metadata.uid
        root.mkdir(parents=True)
        env = self._resolve_env(pod, container)
        mounts = self._materialise(pod, container, root)
        ports = {p.container_port: free_port() for p in container.ports or []}
        named = {p.name: p.container_port for p in container.ports or [] if p.name}
        probe = container.readiness_probe
        probe_port: int | None = None
        if probe is not None and probe.http_get is not None:
            raw = probe.http_get.port
            probe_port = named[raw] if isinstance(raw, str) and raw in named else int(raw)
            ports.setdefault(probe_port, free_port())

        # One pass over every mount path (longest first), so a replaced path is never
        # rewritten again (a /tmp mount must not touch the per-Pod root under /tmp).
        paths = sorted(mounts, key=len, reverse=True)
        mount_pattern = re.compile("|".join(re.escape(p) for p in paths)) if paths else None

        def rewrite(text: str) -> str:
            if mount_pattern is not None:
                text = mount_pattern.sub(lambda m: mounts[m.group(0)], text)
            for port, local_port in ports.items():
                text = text.replace(f"0.0.0.0:{port}", f"127.0.0.1:{local_port}")
                text = re.sub(rf":{port}\b", f":{local_port}", text)
            return text

        argv = [rewrite(a) for a in [*(container.command or []), *(container.args or [])]]
        if not argv:
            raise ValueError("the container has no command: images are not run here")
        executable = shutil.which(argv[0], path=self.path)
        if executable is None:
            raise FileNotFoundError(f"{argv[0]} is not in the project's environment")
        environment = {
            "PATH": self.path,
            "HOME": str(root),
            "PYTHONUNBUFFERED": "1",
            **{k: rewrite(v) for k, v in env.items()},
        }
        log_path = self.log_dir / f"{pod.metadata.namespace}_{pod.metadata.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [executable, *argv[1:]],
                env=environment,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready_url = None
        if probe is not None and probe.http_get is not None and probe_port is not None:
            ready_url = f"http://127.0.0.1:{ports[probe_port]}{probe.http_get.path or '/'}"
        running = RunningPod(
            pod.metadata.namespace,
            pod.metadata.name,
            pod.metadata.uid,
            root,
            process,
            ready_url,
            log_path=log_path,
        )
        self._report(
            running.namespace, running.name, ready=False, phase="Running", message="started"
        )
        return running

    def _probe_readiness(self) -> None:
        while not self._stop.wait(0.5):
            for running in list(self.pods.values()):
                ready = running.process.poll() is None and self._check(running.ready_url)
                phase = "Running" if running.process.poll() is None else "Failed"
                if ready != running.ready or phase == "Failed":
                    running.ready = ready
                    message = (
                        f"exited with {running.process.returncode}"
                        if phase == "Failed"
                        else "ready"
                        if ready
                        else "not ready"
                    )
                    with contextlib.suppress(ApiException):
                        self._report(
                            running.namespace,
                            running.name,
                            ready=ready,
                            phase=phase,
                            message=message,
                        )

    @staticmethod
    def _check(url: str | None) -> bool:
        if url is None:
            return True
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                return bool(200 <= response.status < 400)
        except OSError:
            return False

    def _report(self, namespace: str, name: str, *, ready: bool, phase: str, message: str) -> None:
        state = "True" if ready else "False"
        status = {
            "status": {
                "phase": phase,
                "hostIP": "127.0.0.1",
                "podIP": "127.0.0.1",
                "podIPs": [{"ip": "127.0.0.1"}],
                "startTime": _now(),
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()},
                    {"type": "Initialized", "status": "True", "lastTransitionTime": _now()},
                    {"type": "ContainersReady", "status": state, "lastTransitionTime": _now()},
                    {
                        "type": "Ready",
                        "status": state,
                        "lastTransitionTime": _now(),
                        "message": message,
                    },
                ],
            }
        }
        self.core.patch_namespaced_pod_status(name, namespace, status)

    def _terminate(self, running: RunningPod) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, 15)
        try:
            running.process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(running.process.pid, 9)
            running.process.wait(5)
        shutil.rmtree(running.root, ignore_errors=True)

    def stop(self) -> None:
        """Stops every process and the watch; removes the node."""
        self._stop.set()
        for running in list(self.pods.values()):
            self._terminate(running)
        self.pods.clear()
        with contextlib.suppress(ApiException):
            self.core.delete_node(self.node)
        shutil.rmtree(self.root, ignore_errors=True)

    def logs(self) -> dict[str, str]:
        """The tail of every Pod process's output, for failure messages."""
        return {
            f"{p.namespace}/{p.name}": p.log_path.read_text(errors="replace")[-3000:]
            for p in self.pods.values()
            if p.log_path.exists()
        }
