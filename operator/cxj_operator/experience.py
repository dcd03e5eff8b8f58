"""Pulls each journey's experience summary from the processor's status API into status."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import kopf

from cxj_alerting.delivery import Dispatcher
from cxj_alerting.incident import Evaluation, IncidentTracker
from cxj_journey.model import JourneyInvalid, parse_journey
from cxj_operator import conditions as cond
from cxj_operator import naming
from cxj_operator.experience_view import (
    NO_TELEMETRY,
    NOT_CONFIGURED,
    OK,
    UNREACHABLE,
    Reading,
    needs_write,
)
from cxj_operator.fanout import run_all
from cxj_operator.inventory import Key
from cxj_operator.journey_status import apply_journey_status, carried_workload, experience_from
from cxj_operator.kube import ObjectRef
from cxj_operator.reconcile import Services

log = logging.getLogger("cxj.operator.experience")
SWEEP_WRITERS = 4


class ProcessorClient:
    """GET <processor>/api/v1/journeys/<namespace>/<name>, bounded by a timeout."""

    def __init__(self, base_url: str | None, timeout_s: float) -> None:
        self.base_url, self.timeout_s = base_url, timeout_s

    def read(self, namespace: str, name: str) -> Reading:  # noqa: PLR0911 - one per outcome
        """One journey's summary, or why there is none."""
        if not self.base_url:
            return Reading(NOT_CONFIGURED, shared=True)
        url = f"{self.base_url}/api/v1/journeys/{quote(namespace)}/{quote(name)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                document = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return Reading(NO_TELEMETRY, detail=f"{url} answered 404")
            return Reading(UNREACHABLE, detail=f"{url} answered HTTP {error.code}")
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            return self._unanswered(error)
        except ValueError as error:
            return Reading(UNREACHABLE, detail=f"{url} answered something other than JSON: {error}")
        summary = document.get("summary") if isinstance(document, dict) else None
        if not isinstance(summary, dict):
            return Reading(UNREACHABLE, detail=f"{url} answered without a summary")
        return Reading(OK, summary=summary)

    def reachable(self) -> Reading | None:
        """None when the processor answers its health check, else why not (shared).

        Asked when there is no journey whose reading would tell.
        """
        if not self.base_url:
            return Reading(NOT_CONFIGURED, shared=True)
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=self.timeout_s):
                return None
        except urllib.error.HTTPError:
            return None  # it answers; journeys' readings will say more
        except (urllib.error.URLError, OSError, TimeoutError) as error:
            return self._unanswered(error)

    def _unanswered(self, error: BaseException) -> Reading:
        reason = getattr(error, "reason", error)
        return Reading(UNREACHABLE, detail=f"{self.base_url}: {reason}", shared=True)


def refresh_experience(services: Services, key: Key, reading: Reading) -> None:
    """Writes a journey's experience fields and ExperienceDegraded when they changed.

    The write carries the reconcile's part of status unchanged (one field manager owns
    both; see journey_status).
    """
    record = services.inventory.record(key)
    if record is None:
        return
    with record.lock:
        previous = record.experience_conditions or (record.status or {}).get("conditions")
        experience = experience_from(services, record, reading, cond.rfc3339(services.clock()))
        fields, condition = experience.fields or {}, [dict(experience.condition or {})]
        written = record.experience or (record.status or {}).get("experience")
        age = time.monotonic() - record.experience_written_at
        if (
            not needs_write(written, fields, services.config.experience.max_age_s, age)
            and record.experience_conditions is not None
            and cond.same_decision(record.experience_conditions, condition)
        ):
            record.reading = reading
            return
        workload = record.workload or carried_workload(record.status or {})
        apply_journey_status(services, key, record, workload, experience)
        record.reading = reading
        record.experience_written_at = time.monotonic()
    ref = ObjectRef(naming.API_VERSION, naming.KIND, key[0], key[1], record.uid)
    if cond.flipped_to(previous, condition, cond.EXPERIENCE_DEGRADED, cond.TRUE):
        services.api.post_event(
            ref, "Warning", "ExperienceDegraded", condition[0]["message"], services.identity
        )
    elif (
        (before := cond.find(previous, cond.EXPERIENCE_DEGRADED)) is not None
        and before.get("status") == cond.TRUE
        and condition[0]["status"] == cond.FALSE
    ):
        services.api.post_event(
            ref, "Normal", "ExperienceRecovered", condition[0]["message"], services.identity
        )


def sweep(
    services: Services,
    client: ProcessorClient,
    readings: list[tuple[Key, Reading]] | None = None,
    pool: Executor | None = None,
) -> int:
    """Refreshes every known journey once; returns how many failed to be written.

    When the processor does not answer for one journey it is taken as unreachable for the
    rest of the sweep, so a dead processor costs one timeout, not one per journey. A
    reading that holds for every journey (processor down or not configured) is kept for
    the reconcile, so a journey created before the next sweep says so in its first status
    write. The readings are taken one by one; the writes they lead to run concurrently on
    the pool.
    """
    keys = services.inventory.journey_keys()
    unreachable: Reading | None = None if keys else client.reachable()
    taken: list[tuple[Key, Reading]] = []
    for key in keys:
        reading = unreachable or client.read(*key)
        if reading.outcome in (UNREACHABLE, NOT_CONFIGURED):
            unreachable = reading
        taken.append((key, reading))
    services.inventory.set_shared_reading(
        unreachable if unreachable is not None and unreachable.shared else None
    )
    if readings is not None:
        readings.extend(taken)

    def write(item: tuple[Key, Reading]) -> bool:
        key, reading = item
        try:
            refresh_experience(services, key, reading)
        except kopf.TemporaryError as error:
            # The next sweep retries it; the journey keeps its last written fields meanwhile.
            log.warning("experience of %s/%s not written: %s", key[0], key[1], error)
            return False
        return True

    return sum(not written for written in run_all(pool, write, taken))


async def poll_experience(services: Services, stop: asyncio.Event) -> None:
    """Sweeps every interval until stop is set."""
    client = ProcessorClient(
        services.config.experience.processor_url, services.config.experience.timeout_s
    )
    incidents = Incidents(services)
    # Its own few threads: a sweep's writes are not urgent and must not queue ahead of
    # the readiness flushes.
    with ThreadPoolExecutor(SWEEP_WRITERS, thread_name_prefix="cxj-experience") as pool:
        while not stop.is_set():
            readings: list[tuple[Key, Reading]] = []
            await asyncio.to_thread(sweep, services, client, readings, pool)
            await incidents.deliver(readings)
            try:
                await asyncio.wait_for(stop.wait(), services.config.experience.interval_s)
            except TimeoutError:
                continue


class Incidents:
    """Delivers burn-rate incidents to each journey's alert sinks as alerts fire and resolve."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.tracker = IncidentTracker()
        self.dispatcher: Dispatcher | None = None

    async def deliver(self, readings: list[tuple[Key, Reading]]) -> None:
        """Turns the sweep's readings into fire/resolve notices and queues them."""
        for key, reading in readings:
            if reading.outcome != OK or reading.summary is None:
                continue
            record = self.services.inventory.record(key)
            if record is None or record.body is None:
                continue
            try:
                journey = parse_journey(dict(record.body))
            except (JourneyInvalid, TypeError, KeyError):
                continue  # the reconcile reports an invalid spec; nothing to alert with
            if not journey.alerting.sinks:
                continue
            for incident in self.tracker.observe(
                journey, evaluation(reading.summary), datetime.now(UTC)
            ):
                if self.dispatcher is None:
                    self.dispatcher = Dispatcher().start()
                namespace = key[0]

                def secrets(name: str, item: str, namespace: str = namespace) -> str:
                    return self.services.api.secret_value(namespace, name, item)

                await self.dispatcher.deliver(journey, incident, secrets=secrets)


def evaluation(summary: Mapping[str, Any]) -> Evaluation:
    """The alerting view of a processor summary."""
    firing = set(summary.get("firing") or ())
    fastest = summary.get("fastestBurn") or {}
    burn = (
        {str(fastest["window"]): float(fastest["rate"])}
        if fastest.get("window") and isinstance(fastest.get("rate"), int | float)
        else {}
    )
    layer = summary.get("suspectedLayer")
    return Evaluation(
        firing={severity: severity in firing for severity in ("page", "ticket")},
        burn_rates=burn,
        locations=tuple(summary.get("locations") or ()),
        suspected_layer=None if layer in (None, "none") else str(layer),
        failing_step=summary.get("failingStep") or None,
        example_trace_id=summary.get("exampleTraceId") or None,
    )
