"""What the reconcile, the handlers and the periodic loops share (kopf's memo)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cxj_operator.config import OperatorConfig
from cxj_operator.inventory import Inventory
from cxj_operator.kube import KubeApi
from cxj_operator.placement import NodeFacts, node_facts

NODE_CACHE_S = 10.0


class NodeCache:
    """The cluster's Nodes, listed at most every few seconds however many journeys ask."""

    def __init__(self, api: KubeApi, ttl_s: float = NODE_CACHE_S) -> None:
        self._api, self._ttl_s = api, ttl_s
        self._lock = threading.Lock()
        self._nodes: list[NodeFacts] = []
        self._listed_at = -float("inf")

    def nodes(self) -> list[NodeFacts]:
        """The Nodes, from a listing no older than the cache time."""
        with self._lock:
            if time.monotonic() - self._listed_at >= self._ttl_s:
                self._nodes = [node_facts(n) for n in self._api.list_nodes()]
                self._listed_at = time.monotonic()
            return list(self._nodes)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Services:
    """What the reconcile and the handlers share; handed to kopf as its memo."""

    api: KubeApi
    config: OperatorConfig
    inventory: Inventory
    nodes: NodeCache
    identity: str
    clock: Callable[[], datetime] = field(default=_now)
    # How long a status change that flips neither Ready nor observedGeneration is held so
    # that the rollout steps after it share its write; 0 writes every change at once.
    settle_s: float = 0.0
    # Runs a reconcile's independent applies at once; None runs them one after another.
    fanout: Executor | None = None
    # Writes the status of many journeys at once (the readiness flushes). A separate pool:
    # its tasks may wait for a journey's lock, held by a reconcile that itself waits for
    # fanout tasks, so sharing one pool could fill it with waiters and never finish.
    batch: Executor | None = None
