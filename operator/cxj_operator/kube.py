"""The one module that talks to the Kubernetes API.

Server-side apply (field manager cxj-operator, force), deletes with uid preconditions,
status applies, Events, Secret existence, Nodes and Leases. API failures become
kopf.TemporaryError (retry with backoff) or kopf.PermanentError (a request the apiserver
will never accept), with the resource and the fix in the message.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import kopf
import urllib3
from kubernetes import client as k8s
from kubernetes import config as _k8s_config

from cxj_operator import naming
from cxj_operator.paths import collection_path, object_path

log = logging.getLogger("cxj.operator.kube")
# The config loaders carry no type hints.
k8s_config: Any = _k8s_config

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
METADATA_ONE = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"
TIMEOUT = (5.0, 30.0)  # connect, read
# The apiserver ends a watch after this long; the client gives it some more before it
# gives up reading, and the watcher resumes from the last resourceVersion it saw.
WATCH_SERVER_TIMEOUT_S = 300
WATCH_TIMEOUT = (5.0, WATCH_SERVER_TIMEOUT_S + 30.0)
RBAC_FILE = "deploy/rbac/operator.yaml"


class NotFound(kopf.TemporaryError):
    """The object does not exist (retried if it escapes a handler)."""


class Conflict(kopf.TemporaryError):
    """A precondition, resourceVersion or name conflict (retried if it escapes a handler)."""


class Gone(kopf.TemporaryError):
    """The resourceVersion a watch resumes from is no longer kept (410): list again."""


@dataclass(frozen=True)
class ObjectRef:
    """Enough of an object to post an Event about it."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Applied:
    """What a server-side apply returned, and whether it created the object."""

    object: dict[str, Any]
    created: bool


def load_configuration(kubeconfig: str | None, context: str | None) -> k8s.Configuration:
    """Reads credentials from a kubeconfig file, else from the Pod's ServiceAccount.

    Nothing is loaded at import time and no global default is touched.
    """
    configuration = k8s.Configuration()
    if kubeconfig:
        k8s_config.load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    else:
        k8s_config.load_incluster_config(client_configuration=configuration)
    configuration.retries = 1
    return configuration


def connection_info(configuration: k8s.Configuration) -> kopf.ConnectionInfo:
    """The same credentials in the form kopf logs in with."""
    header = configuration.get_api_key_with_prefix("BearerToken", alias="authorization") or ""
    scheme, _, token = header.partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def _failure(
    method: str, path: str, status: int, body: bytes, retry_after: str | None
) -> Exception:
    try:
        message = json.loads(body).get("message", "")
    except (ValueError, AttributeError):
        message = body[:200].decode(errors="replace")
    what = f"{method} {path}"
    known: dict[int, tuple[type[kopf.TemporaryError], str, float]] = {
        404: (NotFound, "not found", 2),
        409: (Conflict, f"conflict: {message}", 1),
        410: (Gone, f"resourceVersion too old: {message}", 0),
    }
    if status in known:
        kind, text, delay = known[status]
        return kind(f"{what}: {text}", delay=delay)
    if status == 403:
        return kopf.TemporaryError(
            f"{what} forbidden: {message}; grant the operator's ServiceAccount this permission "
            f"(see {RBAC_FILE})",
            delay=30,
        )
    if status == 401:
        return kopf.TemporaryError(f"{what}: credentials rejected, logging in again", delay=5)
    if status == 429 or status >= 500:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else 2.0
        return kopf.TemporaryError(f"{what}: apiserver answered {status}: {message}", delay=delay)
    return kopf.PermanentError(f"{what} rejected ({status}): {message}")


class WatchStream:
    """One open watch: its events, decoded, as they arrive; close() ends it from any thread."""

    def __init__(self, response: Any, what: str) -> None:
        self._response = response
        self._what = what

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """The watch events until the apiserver ends the watch or close() is called.

        Raises:
            kopf.TemporaryError: when the connection breaks or a line is not JSON.
        """
        try:
            for line in self._response:
                if line.strip():
                    yield json.loads(line)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            raise kopf.TemporaryError(f"{self._what}: interrupted: {error}", delay=1) from error
        finally:
            self._response.close()

    def close(self) -> None:
        """Ends the watch from any thread: a read waiting on it returns at once."""
        # Only shuts the socket for reading; the reading thread closes the response.
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            self._response.shutdown()


class KubeApi:
    """Thread-safe, synchronous access to the few API calls the operator makes."""

    def __init__(self, configuration: k8s.Configuration, connections: int = 32) -> None:
        # One kept-alive connection per thread that may call at once: a connection the
        # pool has no room for is closed after its request, and the next costs a handshake.
        configuration.connection_pool_maxsize = connections
        self.configuration = configuration
        self._client: Any = k8s.ApiClient(configuration)

    def close(self) -> None:
        """Releases the connection pool."""
        self._client.close()

    # -- transport ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """One API request; returns the decoded JSON answer (see exchange for the errors)."""
        return self.exchange(
            method, path, query=query, body=body, content_type=content_type, accept=accept
        )[1]

    def exchange(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> tuple[int, dict[str, Any]]:
        """One API request; returns the HTTP status and the decoded JSON answer.

        Raises:
            NotFound, Conflict: for 404 and 409.
            kopf.TemporaryError: for failures worth retrying (unreachable, 5xx, 429, 403).
            kopf.PermanentError: for requests the apiserver will never accept.
        """
        response = self._send(
            method, path, query=query, body=body, content_type=content_type, accept=accept
        )
        try:
            data = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise kopf.TemporaryError(
                f"{method} {path}: apiserver unreachable: {error}", delay=2
            ) from error
        if not 200 <= response.status < 300:
            raise _failure(method, path, response.status, data, response.getheader("Retry-After"))
        decoded: dict[str, Any] = json.loads(data) if data else {}
        return int(response.status), decoded

    def watch(self, path: str, query: Mapping[str, str]) -> WatchStream:
        """Opens a watch of a collection (query carries resourceVersion and selectors).

        Raises:
            Gone: when the resourceVersion is too old to resume from.
            kopf.TemporaryError, kopf.PermanentError: as for exchange.
        """
        full = {
            **query,
            "watch": "true",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SERVER_TIMEOUT_S),
        }
        response = self._send("GET", path, query=full, timeout=WATCH_TIMEOUT)
        if not 200 <= response.status < 300:
            data = response.read()
            raise _failure("GET", path, response.status, data, response.getheader("Retry-After"))
        return WatchStream(response.response, f"watch {path}")

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
        timeout: tuple[float, float] = TIMEOUT,
    ) -> Any:
        """Sends a request and returns the response, its body not read yet."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        call_method, url, headers, _, _ = self._client.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            return self._client.call_api(
                call_method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise kopf.TemporaryError(
                f"{method} {path}: apiserver unreachable: {error}", delay=2
            ) from error

    # -- children -----------------------------------------------------------------------
    def apply(self, manifest: Mapping[str, Any], manager: str = naming.FIELD_MANAGER) -> Applied:
        """Server-side applies a manifest, creating it if needed; says which it was."""
        status, result = self.exchange(
            "PATCH",
            object_path(manifest),
            query={"fieldManager": manager, "force": "true"},
            body=manifest,
            content_type=APPLY,
        )
        return Applied(result, created=status == 201)

    def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> bool:
        """Deletes an object if it is still the one with that uid; False when already gone."""
        path = f"{collection_path(api_version, kind, namespace)}/{quote(name)}"
        try:
            self.request(
                "DELETE",
                path,
                body={"preconditions": {"uid": uid}, "propagationPolicy": "Background"},
            )
        except NotFound:
            return False
        except Conflict:
            return False  # replaced by a new object of that name: not the leftover any more
        return True

    # -- the journey --------------------------------------------------------------------
    def apply_status(
        self, namespace: str, name: str, status: Mapping[str, Any] | None, manager: str
    ) -> dict[str, Any]:
        """Server-side applies a journey's status fields owned by one field manager.

        None applies no status at all: the manager gives up every status field it owned
        (fields another manager also owns stay).
        """
        body: dict[str, Any] = {
            "apiVersion": naming.API_VERSION,
            "kind": naming.KIND,
            "metadata": {"name": name, "namespace": namespace},
        }
        if status is not None:
            body["status"] = status
        path = collection_path(naming.API_VERSION, naming.KIND, namespace)
        return self.request(
            "PATCH",
            f"{path}/{quote(name)}/status",
            query={"fieldManager": manager, "force": "true"},
            body=body,
            content_type=APPLY,
        )

    def secret_exists(self, namespace: str, name: str) -> bool:
        """Whether a Secret exists; reads its metadata only, never its data."""
        try:
            self.request(
                "GET",
                f"{collection_path('v1', 'Secret', namespace)}/{quote(name)}",
                accept=METADATA_ONE,
            )
        except NotFound:
            return False
        return True

    def secret_value(self, namespace: str, name: str, key: str) -> str:
        """One key of a Secret, decoded (alert sinks' routing keys and webhook URLs).

        Raises:
            KeyError: naming the Secret and key when either is missing.
        """
        import base64

        try:
            secret = self.request(
                "GET", f"{collection_path('v1', 'Secret', namespace)}/{quote(name)}"
            )
        except NotFound as error:
            raise KeyError(f"Secret {namespace}/{name} not found") from error
        data = secret.get("data") or {}
        if key not in data:
            raise KeyError(f"Secret {namespace}/{name} has no key {key}")
        return base64.b64decode(data[key]).decode()

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every Node (for judging whether a location can be scheduled)."""
        return list(self.request("GET", "/api/v1/nodes").get("items") or ())

    def post_event(
        self, about: ObjectRef, kind: str, reason: str, message: str, instance: str
    ) -> None:
        """Records a core/v1 Event about an object."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{about.name}.", "namespace": about.namespace},
            "involvedObject": {
                "apiVersion": about.api_version,
                "kind": about.kind,
                "name": about.name,
                "namespace": about.namespace,
                "uid": about.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": naming.EVENT_SOURCE},
            "reportingComponent": naming.EVENT_SOURCE,
            "reportingInstance": instance[:128],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self.request("POST", collection_path("v1", "Event", about.namespace), body=event)

    # -- leader election ----------------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when it does not exist."""
        try:
            return self.request(
                "GET", f"{collection_path('coordination.k8s.io/v1', 'Lease', namespace)}/{name}"
            )
        except NotFound:
            return None

    def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any] | None:
        """Creates the Lease; None when another replica created it first."""
        try:
            return self.request(
                "POST", collection_path("coordination.k8s.io/v1", "Lease", namespace), body=lease
            )
        except Conflict:
            return None

    def replace_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any] | None:
        """Replaces the Lease at its resourceVersion; None when someone else changed it first."""
        path = collection_path("coordination.k8s.io/v1", "Lease", namespace)
        try:
            return self.request("PUT", f"{path}/{lease['metadata']['name']}", body=lease)
        except (Conflict, NotFound):
            return None
