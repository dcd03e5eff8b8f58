"""`make run` until the standalone demo lands: the CxJourney CRD on a real control plane.

Starts etcd and kube-apiserver from the project's cache, installs the CRD, validates and
applies every example, shows `kubectl get cxj`, and shows one common mistake rejected
by both the apiserver and `cxj validate` with the same reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.harness.kube import ControlPlane
from tests.harness.processes import REPO


def say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    examples = sorted((REPO / "crds" / "examples").glob("*.yaml"))
    say("cxj validate crds/examples/*.yaml")
    subprocess.run(
        [sys.executable, "-m", "cxj_cli.main", "validate", *map(str, examples)], check=True
    )

    say("starting etcd + kube-apiserver (RBAC on, loopback only)")
    plane = ControlPlane().start()
    try:
        say("kubectl apply --server-side -f crds/")
        print(plane.kubectl("apply", "--server-side", "-f", str(REPO / "crds")).stdout, end="")
        plane.kubectl("wait", "--for=condition=Established", "crd/cxjourneys.cxjourney.dev")
        say("kubectl apply -f crds/examples/")
        print(plane.kubectl("apply", "-f", str(REPO / "crds" / "examples")).stdout, end="")
        say("kubectl get cxj   (score, budget, burn and cause fill in once the operator runs)")
        print(plane.kubectl("get", "cxj").stdout, end="")

        mistake = json.loads(json.dumps(_load(examples[0])))
        mistake["metadata"]["name"] = "a-common-mistake"
        mistake["spec"]["slo"] = {"objective": "100"}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(mistake, handle)
        say("a journey promising 100% (no error budget), as the apiserver sees it")
        print(plane.kubectl("apply", "-f", handle.name, check=False).stderr, end="")
        say("and as cxj validate sees it, without a cluster")
        subprocess.run([sys.executable, "-m", "cxj_cli.main", "validate", handle.name], check=False)
        Path(handle.name).unlink()
    finally:
        plane.stop()
    say("done: see README.md for what comes next")
    return 0


def _load(path: Path) -> dict[str, object]:
    import yaml

    document: dict[str, object] = yaml.safe_load(path.read_text())
    return document


if __name__ == "__main__":
    sys.exit(main())
