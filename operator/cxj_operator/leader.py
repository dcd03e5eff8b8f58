"""Leader election on a coordination.k8s.io Lease: one replica reconciles, the others wait.

A candidate takes the Lease when it is free, released, or its holder has not renewed it
for the lease duration as measured on the candidate's own clock (clocks of different
machines are never compared). The leader renews it; if renewals keep failing past the
renew deadline it must stop acting, because another replica may already have taken over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import kopf

from cxj_operator.config import LeaderSettings
from cxj_operator.kube import KubeApi

log = logging.getLogger("cxj.operator.leader")


def _micro_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Takes, renews and releases the operator's Lease for one identity."""

    def __init__(
        self,
        api: KubeApi,
        settings: LeaderSettings,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api, self.settings = api, settings
        self._monotonic, self._wall = monotonic, wall
        self._observed: tuple[Any, Any] | None = None  # (holder, renewTime) last seen
        self._observed_at = 0.0
        self._renewed_at = -float("inf")

    @property
    def renew_deadline_s(self) -> float:
        """How long renewals may fail before the leader stops acting."""
        return self.settings.lease_duration_s * 2 / 3

    def _spec(self, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        now = _micro_time(self._wall())
        before = previous or {}
        mine = before.get("holderIdentity") == self.settings.identity
        return {
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.lease_duration_s)),
            "acquireTime": before.get("acquireTime") if mine else now,
            "renewTime": now,
            "leaseTransitions": int(before.get("leaseTransitions", 0))
            + (0 if mine or previous is None else 1),
        }

    def _holder_expired(self, spec: Mapping[str, Any]) -> bool:
        record = (spec.get("holderIdentity"), spec.get("renewTime"))
        if record != self._observed:
            self._observed, self._observed_at = record, self._monotonic()
        if not record[0]:
            return True  # released
        duration = float(spec.get("leaseDurationSeconds") or self.settings.lease_duration_s)
        return self._monotonic() >= self._observed_at + duration

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this identity holds the Lease afterwards."""
        namespace, name = self.settings.lease_namespace, self.settings.lease_name
        lease = self.api.get_lease(namespace, name)
        if lease is None:
            created = self.api.create_lease(
                namespace,
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": self._spec(None),
                },
            )
            return self._held(created)
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.settings.identity and not self._holder_expired(spec):
            return False
        replaced = self.api.replace_lease(namespace, {**lease, "spec": self._spec(spec)})
        return self._held(replaced)

    def _held(self, lease: Mapping[str, Any] | None) -> bool:
        if lease is None:
            return False
        self._renewed_at = self._monotonic()
        return True

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Waits until this replica leads (True) or stop is set (False)."""
        announced = False
        while not stop.is_set():
            try:
                if await asyncio.to_thread(self.try_acquire_or_renew):
                    log.info(
                        "leading as %s (lease %s/%s)",
                        self.settings.identity,
                        self.settings.lease_namespace,
                        self.settings.lease_name,
                    )
                    return True
            except kopf.TemporaryError as error:
                log.warning("lease not reachable, retrying: %s", error)
            if not announced:
                log.info(
                    "standing by: lease %s/%s is held by another replica",
                    self.settings.lease_namespace,
                    self.settings.lease_name,
                )
                announced = True
            try:
                await asyncio.wait_for(stop.wait(), self.settings.retry_interval_s)
            except TimeoutError:
                continue
        return False

    async def hold(self, stop: asyncio.Event) -> None:
        """Renews until stop is set; returns early when leadership is lost."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.settings.renew_interval_s)
                return
            except TimeoutError:
                pass
            try:
                renewed = await asyncio.to_thread(self.try_acquire_or_renew)
            except (kopf.TemporaryError, kopf.PermanentError) as error:
                log.warning("lease renewal failed: %s", error)
                renewed = False
            if not renewed and self._monotonic() - self._renewed_at > self.renew_deadline_s:
                log.error(
                    "lost the lease %s/%s: stopping",
                    self.settings.lease_namespace,
                    self.settings.lease_name,
                )
                return

    def release(self) -> None:
        """Gives the Lease up at shutdown so a standby takes over at once."""
        namespace, name = self.settings.lease_namespace, self.settings.lease_name
        lease = self.api.get_lease(namespace, name)
        if (
            lease is None
            or (lease.get("spec") or {}).get("holderIdentity") != self.settings.identity
        ):
            return
        spec = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
        self.api.replace_lease(namespace, {**lease, "spec": spec})
