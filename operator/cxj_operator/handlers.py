"""Every kopf handler of the operator: thin, each hands its event to the reconcile layer.

Handlers are registered on a registry made at start-up (not at import time), so the
settings they depend on come from the parsed configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import kopf

from cxj_operator import naming
from cxj_operator.reconcile import Services, reconcile

JOURNEYS = (naming.GROUP, naming.VERSION, naming.PLURAL)


def register(
    registry: kopf.OperatorRegistry,
    credentials: Callable[[], kopf.ConnectionInfo],
    forget: Callable[[str], None] = lambda uid: None,
) -> None:
    """Registers the login, the reconcile and the journeys' watcher on a registry.

    The probe Deployments are watched by the operator itself (probe_watch), not by kopf.

    forget is told the uid of every deleted journey (to drop what is kept about it).
    """

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return credentials()

    @kopf.on.resume(*JOURNEYS, registry=registry)
    @kopf.on.create(*JOURNEYS, registry=registry)
    @kopf.on.update(*JOURNEYS, registry=registry)
    def reconcile_journey(body: kopf.Body, memo: Services, **_: Any) -> None:
        reconcile(memo, body)

    # The watcher only touches memory, so it runs on the event loop, not in a thread.
    @kopf.on.event(*JOURNEYS, registry=registry)
    async def track_journey(type: str | None, body: kopf.Body, memo: Services, **_: Any) -> None:
        memo.inventory.observe_journey(type, body)
        if type == "DELETED":
            forget(str(body.metadata.uid))
