"""How the probe watch reads single watch events (the watch itself runs against the real
apiserver in tests/integration/test_probe_watch.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf
import pytest

from cxj_operator.kube import Gone, KubeApi
from cxj_operator.probe_watch import ProbeWatch


def _watch() -> tuple[ProbeWatch, list[tuple[str | None, str]]]:
    seen: list[tuple[str | None, str]] = []

    def observe(kind: str | None, body: Mapping[str, Any]) -> None:
        seen.append((kind, body["metadata"]["name"]))

    # Reading an event needs no API access.
    return ProbeWatch(cast(KubeApi, None), "cx", "app=probe", observe), seen


def _event(kind: str, name: str, version: str) -> dict[str, Any]:
    return {
        "type": kind,
        "object": {
            "metadata": {"name": name, "uid": f"u-{name}", "resourceVersion": version},
            "spec": {"replicas": 2},
        },
    }


def test_changes_are_handed_on_and_move_the_version() -> None:
    watch, seen = _watch()
    assert watch._take(_event("ADDED", "a", "11"), "10") == "11"
    assert watch._take(_event("MODIFIED", "a", "12"), "11") == "12"
    assert watch._take(_event("DELETED", "a", "13"), "12") == "13"
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_a_bookmark_moves_the_version_without_a_change() -> None:
    watch, seen = _watch()
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "40"}}}
    assert watch._take(bookmark, "12") == "40"
    assert seen == []


def test_an_expired_version_is_gone_and_other_errors_are_retried() -> None:
    watch, _ = _watch()
    expired = {"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}
    with pytest.raises(Gone):
        watch._take(expired, "12")
    failed = {"type": "ERROR", "object": {"code": 500, "message": "etcd is down"}}
    with pytest.raises(kopf.TemporaryError, match="etcd is down") as error:
        watch._take(failed, "12")
    assert not isinstance(error.value, Gone)
