"""Wires the operator together: credentials, leadership, kopf, and the experience poller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import kopf

from cxj_journey import schema as journey_schema
from cxj_operator import handlers, kube, naming
from cxj_operator.config import OperatorConfig
from cxj_operator.experience import poll_experience
from cxj_operator.handled import HandledSpecs, RetryProgress
from cxj_operator.inventory import Inventory
from cxj_operator.leader import LeaderElector
from cxj_operator.probe_watch import ProbeWatch
from cxj_operator.reconcile import NodeCache, Services, flush_statuses, observe_probe

log = logging.getLogger("cxj.operator")
EXIT_LOST_LEASE = 3
STATUS_FLUSH_S = 0.5
STATUS_SETTLE_S = 3.0


async def _flush_statuses(services: Services, stop: asyncio.Event) -> None:
    """Writes readiness changes every half second, one status write per journey."""
    while not stop.is_set():
        await asyncio.to_thread(flush_statuses, services)
        try:
            await asyncio.wait_for(stop.wait(), STATUS_FLUSH_S)
        except TimeoutError:
            continue


def operator_settings(
    config: OperatorConfig, handled: HandledSpecs | None = None
) -> kopf.OperatorSettings:
    """Settings for kopf: handled specs in memory, retries in annotations, no finalizers."""
    settings = kopf.OperatorSettings()
    # The CRD's status has a fixed schema, so kopf keeps retry progress in annotations.
    settings.persistence.progress_storage = RetryProgress()
    settings.persistence.diffbase_storage = handled or HandledSpecs()
    # Events are posted by the reconcile itself, one per distinct outcome.
    settings.posting.enabled = False
    # Least privilege: no CRD or namespace watching, the namespaces are given.
    settings.scanning.disabled = True
    settings.peering.standalone = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    settings.networking.error_backoffs = (1, 1, 2, 3, 5, 8)
    settings.execution.max_workers = config.workers
    return settings


@contextlib.contextmanager
def watching_probes(config: OperatorConfig, services: Services) -> Iterator[None]:
    """Watches the probe Deployments on threads of their own while the block runs."""
    scopes: tuple[str | None, ...] = (None,) if config.clusterwide else config.namespaces
    watches = [
        ProbeWatch(
            services.api,
            scope,
            naming.managed_selector(),
            lambda kind, body: observe_probe(services, kind, body),
        )
        for scope in scopes
    ]
    threads = [
        threading.Thread(target=w.run, name=f"cxj-probes-{i}", daemon=True)
        for i, w in enumerate(watches)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for watch in watches:
            watch.stop()
        for thread in threads:
            thread.join(timeout=10)


async def _serve(config: OperatorConfig, api: kube.KubeApi, services: Services) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Ends a standby's wait; once kopf runs, its own handlers take these signals over.
        loop.add_signal_handler(sig, stop.set)
    elector = LeaderElector(api, config.leader) if config.leader.enabled else None
    if elector is not None and not await elector.acquire(stop):
        return 0
    registry = kopf.OperatorRegistry()
    handled = HandledSpecs()
    handlers.register(
        registry, lambda: kube.connection_info(api.configuration), forget=handled.forget
    )
    kopf_stop = asyncio.Event()
    poller = asyncio.create_task(poll_experience(services, kopf_stop), name="experience poller")
    flusher = asyncio.create_task(_flush_statuses(services, kopf_stop), name="status flusher")
    lost = asyncio.Event()

    async def keep_lease() -> None:
        if elector is None:
            return
        await elector.hold(kopf_stop)
        if not kopf_stop.is_set():
            lost.set()
            kopf_stop.set()

    keeper = asyncio.create_task(keep_lease(), name="lease keeper")
    try:
        with watching_probes(config, services):
            await kopf.operator(
                registry=registry,
                settings=operator_settings(config, handled),
                memo=services,
                clusterwide=config.clusterwide,
                namespaces=config.namespaces,
                standalone=True,
                stop_flag=kopf_stop,
                liveness_endpoint=config.liveness,
            )
    finally:
        kopf_stop.set()
        for task in (poller, flusher, keeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if lost.is_set():
        return EXIT_LOST_LEASE
    if elector is not None:
        await asyncio.to_thread(elector.release)
    return 0


def run_operator(config: OperatorConfig) -> int:
    """Runs the operator until SIGTERM/SIGINT; returns the process exit code."""
    configuration = kube.load_configuration(config.kubeconfig, config.context)
    # kopf's reconcile threads and both pools each keep their connections open.
    api = kube.KubeApi(configuration, connections=3 * config.workers + 4)
    fanout = ThreadPoolExecutor(config.workers, thread_name_prefix="cxj-apply")
    batch = ThreadPoolExecutor(config.workers, thread_name_prefix="cxj-status")
    services = Services(
        api=api,
        config=config,
        inventory=Inventory(),
        nodes=NodeCache(api),
        identity=config.leader.identity,
        settle_s=STATUS_SETTLE_S,
        fanout=fanout,
        batch=batch,
    )
    # Read the CRD's schema once now: the first burst of reconciles would otherwise each
    # parse it at the same time, before the cache holds it.
    journey_schema.json_schema(naming.KIND)
    log.info(
        "cxj operator %s watching %s",
        config.leader.identity,
        "every namespace" if config.clusterwide else ", ".join(config.namespaces),
    )
    try:
        return asyncio.run(_serve(config, api, services))
    finally:
        for pool in (fanout, batch):
            pool.shutdown(wait=True, cancel_futures=True)
        api.close()
