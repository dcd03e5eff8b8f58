"""The operator's own watch of its probe Deployments, feeding their rollout to the inventory.

A probe Deployment sends about half a dozen watch events as it rolls out, three quarters
of all the events the operator receives, and the operator reads a dozen fields of each.
Handed through kopf, every event costs a worker task, a cause and a handler invocation on
the event loop that also runs the journeys' reconciles. This watch runs on its own thread
instead: it lists the Deployments, then watches from the listed resourceVersion, decodes
each event and passes it on. It resumes where it stopped after the apiserver ends a watch
or the connection breaks, and lists again when the resourceVersion is too old, reporting
every Deployment that vanished meanwhile as deleted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import kopf

from cxj_operator.kube import Gone, KubeApi, WatchStream
from cxj_operator.paths import collection_path

log = logging.getLogger("cxj.operator.probes")
LIST_PAGE = 500
BACKOFFS_S = (1.0, 1.0, 2.0, 3.0, 5.0, 8.0)

Observer = Callable[[str | None, Mapping[str, Any]], None]


def _identity(body: Mapping[str, Any]) -> dict[str, Any]:
    """What a deleted Deployment's event needs: its names, labels, owners and replicas."""
    metadata = body.get("metadata") or {}
    return {
        "metadata": {
            key: metadata[key]
            for key in ("name", "namespace", "uid", "labels", "ownerReferences")
            if key in metadata
        },
        "spec": {"replicas": (body.get("spec") or {}).get("replicas", 1)},
    }


class ProbeWatch:
    """Lists and watches the Deployments one label selector matches, in one scope."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str | None,
        selector: str,
        observe: Observer,
        backoffs: Sequence[float] = BACKOFFS_S,
    ) -> None:
        self._api = api
        self._path = collection_path("apps/v1", "Deployment", namespace)
        self._selector = selector
        self._observe = observe
        self._backoffs = tuple(backoffs)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream: WatchStream | None = None
        # What was last seen of each Deployment, by uid, to report one gone while unwatched.
        self._known: dict[str, dict[str, Any]] = {}
        self.listed = threading.Event()  # set once the first listing has been handed on

    def run(self) -> None:
        """Lists and watches until stop() is called; errors are logged and retried."""
        version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._watch(version)
                failures = 0
            except Gone:
                log.info("%s: resourceVersion expired, listing again", self._path)
                version = None
            except kopf.PermanentError as error:
                log.error("%s: %s", self._path, error)
                failures += 1
            except kopf.TemporaryError as error:
                if self._stop.is_set():
                    break
                log.warning("%s: %s; retrying", self._path, error)
                failures += 1
            except Exception:
                # A thread that died here would leave every journey's readiness stale
                # without a word: log the fault and start over from a fresh listing.
                log.exception("%s: unexpected failure; listing again", self._path)
                version = None
                failures += 1
            if failures:
                delay = self._backoffs[min(failures, len(self._backoffs)) - 1]
                self._stop.wait(delay)

    def stop(self) -> None:
        """Ends run() promptly, also when it is waiting for an event."""
        self._stop.set()
        with self._lock:
            if self._stream is not None:
                self._stream.close()

    # -- internals ----------------------------------------------------------------------
    def _list(self) -> str:
        """Hands on every Deployment (type None, as for a first listing); returns the version."""
        seen: dict[str, dict[str, Any]] = {}
        query = {"labelSelector": self._selector, "limit": str(LIST_PAGE)}
        while True:
            page = self._api.request("GET", self._path, query=query)
            for item in page.get("items") or ():
                # A listing's items carry no kind; the inventory does not need one.
                self._observe(None, item)
                seen[str(item["metadata"]["uid"])] = _identity(item)
            metadata = page.get("metadata") or {}
            if not metadata.get("continue"):
                break
            query = {**query, "continue": str(metadata["continue"])}
        for uid in self._known.keys() - seen.keys():
            self._observe("DELETED", self._known[uid])
        self._known = seen
        self.listed.set()
        return str(metadata.get("resourceVersion", ""))

    def _watch(self, version: str) -> str:
        """Watches from a version until the apiserver ends the watch; returns the last one."""
        stream = self._api.watch(
            self._path, {"labelSelector": self._selector, "resourceVersion": version}
        )
        with self._lock:
            if self._stop.is_set():
                stream.close()
            self._stream = stream
        try:
            for event in stream:
                version = self._take(event, version)
        finally:
            with self._lock:
                self._stream = None
        return version

    def _take(self, event: Mapping[str, Any], version: str) -> str:
        kind, body = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            code, message = body.get("code"), body.get("message", "")
            if code == 410:
                raise Gone(f"{self._path}: {message}", delay=0)
            raise kopf.TemporaryError(f"{self._path}: watch error {code}: {message}", delay=1)
        metadata = body.get("metadata") or {}
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self._observe(kind, body)
            uid = str(metadata.get("uid", ""))
            if kind == "DELETED":
                self._known.pop(uid, None)
            else:
                self._known[uid] = _identity(body)
        return str(metadata.get("resourceVersion") or version)
