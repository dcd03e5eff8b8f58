"""Lease-based leader election: take, renew, wait, take over after expiry, release."""

from __future__ import annotations

import copy
from typing import Any

from cxj_operator.config import LeaderSettings
from cxj_operator.leader import LeaderElector


class FakeLeases:
    """An apiserver's Lease semantics: create once, replace only at the current version."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.lease)

    def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any] | None:
        if self.lease is not None:
            return None
        self.version += 1
        self.lease = {
            **copy.deepcopy(lease),
            "metadata": {**lease["metadata"], "resourceVersion": str(self.version)},
        }
        return copy.deepcopy(self.lease)

    def replace_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any] | None:
        assert self.lease is not None
        if lease["metadata"]["resourceVersion"] != self.lease["metadata"]["resourceVersion"]:
            return None
        self.version += 1
        self.lease = {
            **copy.deepcopy(lease),
            "metadata": {**lease["metadata"], "resourceVersion": str(self.version)},
        }
        return copy.deepcopy(self.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def elector(api: FakeLeases, identity: str, clock: Clock) -> LeaderElector:
    settings = LeaderSettings(identity=identity, lease_duration_s=15, renew_interval_s=5)
    return LeaderElector(api, settings, monotonic=clock)  # type: ignore[arg-type]


def test_first_candidate_leads_and_the_second_waits_until_the_lease_expires() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.now += 10
    assert a.try_acquire_or_renew()  # renewal: b sees a new renewTime and restarts its count
    clock.now += 10
    assert not b.try_acquire_or_renew()
    clock.now += 16  # a stopped renewing 16 s ago, as b's own clock measures it
    assert b.try_acquire_or_renew()
    assert api.lease is not None
    assert api.lease["spec"]["holderIdentity"] == "b"
    assert api.lease["spec"]["leaseTransitions"] == 1
    assert not a.try_acquire_or_renew()


def test_release_lets_a_standby_take_over_at_once() -> None:
    api, clock = FakeLeases(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert b.try_acquire_or_renew()


def test_renewal_keeps_the_acquire_time() -> None:
    api, clock = FakeLeases(), Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    assert api.lease is not None
    acquired = api.lease["spec"]["acquireTime"]
    clock.now += 5
    assert a.try_acquire_or_renew()
    assert api.lease["spec"]["acquireTime"] == acquired
    assert api.lease["spec"]["leaseTransitions"] == 0


def test_two_candidates_racing_for_an_expired_lease_get_one_leader() -> None:
    api, clock = FakeLeases(), Clock()
    a, b, c = (elector(api, name, clock) for name in "abc")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert not c.try_acquire_or_renew()
    clock.now += 20
    stale = api.get_lease("", "")
    assert b.try_acquire_or_renew()
    # c read the lease before b replaced it: its replace loses on the resourceVersion.
    assert stale is not None
    assert api.replace_lease("", {**stale, "spec": {"holderIdentity": "c"}}) is None
    assert api.lease is not None
    assert api.lease["spec"]["holderIdentity"] == "b"
