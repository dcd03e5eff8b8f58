"""Sends incidents to their sinks over HTTP/1.1, retrying with backoff within fixed bounds.

The adapter of the package: the only module that opens sockets. Each (journey, sink, alert)
gets its own ordered lane, so a resolve never overtakes the fire it clears, while different
alerts and sinks proceed side by side. Retries follow the sinks' documented rules: 429 and
5xx responses and connection failures are retried (Retry-After honoured), any other 4xx is
permanent. Every log line and outcome passes through the request's redaction first.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import ssl
import urllib.parse
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import h11

from cxj_alerting.incident import Incident
from cxj_alerting.sinks import (
    SecretResolver,
    SecretUnavailable,
    SinkRequest,
    build_request,
    env_resolver,
    wants,
)
from cxj_journey import __version__
from cxj_journey.model import Journey, Sink

log = logging.getLogger("cxj.alerting")

USER_AGENT = f"cxjourney/{__version__}"
MAX_REPLY_BODY = 4096  # enough to log why a sink refused; the rest is not read into memory
_LOGGED_BODY = 512
_DELAY_SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?$")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one notice is pushed to one sink: attempts, backoff and total time."""

    max_attempts: int = 6
    first_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    max_total_s: float = 300.0  # from the first attempt until the last may start
    request_timeout_s: float = 10.0
    jitter: float = 0.2  # each backoff is shortened by up to this fraction, at random

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt `attempt` (1-based): doubling, capped, jittered."""
        base = min(self.max_backoff_s, self.first_backoff_s * 2.0 ** (attempt - 1))
        return base * (1.0 - self.jitter * rng.random())


@dataclass
class DeliveryCounters:
    """Totals since start: notices delivered, retries made, notices given up on."""

    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class DeliveryOutcome:
    """What happened to one notice at one sink; `detail` is already redacted."""

    sink: str
    kind: str
    dedup_key: str
    state: str
    delivered: bool
    attempts: int
    status: int | None  # the last HTTP status, None when no response came
    detail: str
    waits_s: tuple[float, ...] = ()  # the pause before each retry


@dataclass(frozen=True)
class HttpReply:
    """A response: status, headers by lower-case name, and the start of the body."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Job:
    sink: Sink
    incident: Incident
    resolver: SecretResolver


@dataclass(frozen=True)
class _Verdict:
    """How one attempt ended: the status (None without a response) and what to do next."""

    status: int | None
    reason: str
    retryable: bool
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def __str__(self) -> str:
        return self.reason


class Dispatcher:
    """Delivers incidents to a journey's sinks in the background, with bounded retries.

    `deliver` queues one send per matching sink and returns; at most `capacity` sends wait
    or run at once (a full queue makes `deliver` wait), at most `concurrency` are on the
    wire. Secrets are read at send time, so a rotated Secret applies to the next notice.
    """

    def __init__(
        self,
        resolver: SecretResolver | None = None,
        *,
        policy: RetryPolicy | None = None,
        capacity: int = 256,
        concurrency: int = 8,
        link_url: str | None = None,
        tls: ssl.SSLContext | None = None,
        environ: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if capacity < 1 or concurrency < 1:
            raise ValueError(
                f"capacity and concurrency: must be at least 1, got {capacity}, {concurrency}"
            )
        self._resolver = resolver or env_resolver(os.environ if environ is None else environ)
        self.policy = policy or RetryPolicy()
        self.counters = DeliveryCounters()
        self.outcomes: deque[DeliveryOutcome] = deque(maxlen=256)
        self._link_url = link_url
        self._tls = tls or ssl.create_default_context()  # verifies certificates and host names
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(capacity)
        self._wire = asyncio.Semaphore(concurrency)
        self._lanes: dict[tuple[str, str, str, str], deque[_Job]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._started = False
        self._closing = False

    def start(self) -> Dispatcher:
        """Opens the dispatcher for deliveries; returns it."""
        self._started = True
        return self

    async def deliver(
        self, journey: Journey, incident: Incident, *, secrets: SecretResolver | None = None
    ) -> int:
        """Queues the incident for each of the journey's sinks that takes it; returns how many.

        `secrets` overrides the dispatcher's resolver for this journey (e.g. one bound to the
        journey's namespace).

        Raises:
            RuntimeError: before start() or after close().
        """
        if not self._started or self._closing:
            raise RuntimeError("Dispatcher.deliver: call start() first, and not after close()")
        queued = 0
        for sink in journey.alerting.sinks:
            if not wants(sink, incident):
                continue
            await self._slots.acquire()
            self._pending += 1
            self._idle.clear()
            key = (journey.namespace, journey.name, sink.name, incident.dedup_key)
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = deque()
                task = asyncio.create_task(self._run_lane(key, lane))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            lane.append(_Job(sink, incident, secrets or self._resolver))
            queued += 1
        return queued

    async def drain(self) -> None:
        """Waits until every queued send has been delivered or given up."""
        await self._idle.wait()

    async def close(self, timeout_s: float = 30.0) -> None:
        """Stops taking notices and waits up to `timeout_s` for queued sends to finish.

        Sends still queued after that are abandoned: counted as failed and logged.
        """
        self._closing = True
        try:
            async with asyncio.timeout(timeout_s):
                await self.drain()
        except TimeoutError:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_lane(self, key: tuple[str, str, str, str], lane: deque[_Job]) -> None:
        try:
            while lane:
                async with self._wire:
                    try:
                        outcome = await self._send(lane[0])
                    except Exception as error:
                        # Counted and logged as failed (by type only: the message could quote
                        # a secret), so one broken notice cannot stall drain() or its lane.
                        detail = f"internal error: {type(error).__name__}"
                        log.error("%s sink %r: %s", lane[0].sink.kind, lane[0].sink.name, detail)
                        outcome = _outcome(lane[0], 0, None, detail)
                lane.popleft()
                self._finish(outcome)
        except asyncio.CancelledError:
            for job in lane:
                detail = "abandoned: the dispatcher closed before it was delivered"
                log.error(
                    "%s sink %r: %s %s %s",
                    job.sink.kind,
                    job.sink.name,
                    job.incident.state,
                    job.incident.dedup_key,
                    detail,
                )
                self._finish(_outcome(job, 0, None, detail))
            lane.clear()
            raise
        finally:
            del self._lanes[key]

    def _finish(self, outcome: DeliveryOutcome) -> None:
        if outcome.delivered:
            self.counters.sent += 1
        else:
            self.counters.failed += 1
        self.outcomes.append(outcome)
        self._pending -= 1
        self._slots.release()
        if self._pending == 0:
            self._idle.set()

    async def _send(self, job: _Job) -> DeliveryOutcome:
        what = f"{job.incident.state} {job.incident.dedup_key}"
        try:
            request = await asyncio.to_thread(
                build_request, job.sink, job.incident, job.resolver, link_url=self._link_url
            )
        except (SecretUnavailable, ValueError) as error:
            log.error("%s sink %r: %s not sent: %s", job.sink.kind, job.sink.name, what, error)
            return _outcome(job, attempts=0, status=None, detail=str(error))
        clock = asyncio.get_running_loop().time
        deadline = clock() + self.policy.max_total_s
        waits: list[float] = []
        number = 0
        while True:
            number += 1
            timeout_s = min(self.policy.request_timeout_s, max(deadline - clock(), 0.001))
            verdict = await self._try_once(request, timeout_s)
            if verdict.delivered:
                log.info(
                    "%s: delivered %s (attempt %d, HTTP %s)",
                    request.label,
                    what,
                    number,
                    verdict.status,
                )
                return _outcome(job, number, verdict.status, "delivered", waits, delivered=True)
            delay = self._retry_delay(verdict, number, deadline - clock())
            if isinstance(delay, str):
                detail = f"{verdict}; {delay}"
                log.error("%s: %s failed: %s", request.label, what, detail)
                return _outcome(job, number, verdict.status, detail, waits)
            log.warning(
                "%s: %s attempt %d failed: %s; retrying in %.2f s",
                request.label,
                what,
                number,
                verdict,
                delay,
            )
            self.counters.retried += 1
            waits.append(delay)
            await asyncio.sleep(delay)

    def _retry_delay(self, verdict: _Verdict, number: int, remaining_s: float) -> float | str:
        """The pause before the next attempt, or the reason there is none."""
        if not verdict.retryable:
            return "not retried: the failure is permanent until its cause is fixed"
        if number >= self.policy.max_attempts:
            return f"gave up after {number} attempts"
        delay = verdict.retry_after_s
        if delay is None:
            delay = self.policy.backoff_s(number, self._rng)
        if delay > remaining_s:
            return (
                f"gave up: the next try in {delay:.1f} s would pass the "
                f"{self.policy.max_total_s:.0f} s retry budget"
            )
        return delay

    async def _try_once(self, request: SinkRequest, timeout_s: float) -> _Verdict:
        try:
            reply = await post(
                request.url, request.body, request.content_type, timeout_s=timeout_s, tls=self._tls
            )
        except ssl.SSLCertVerificationError as error:
            reason = f"TLS certificate not trusted: {error.verify_message}"
            return _Verdict(None, request.redact(reason), retryable=False)
        except (OSError, TimeoutError, h11.ProtocolError) as error:
            reason = f"connection failed: {type(error).__name__} {error}".strip()
            return _Verdict(None, request.redact(reason), retryable=True)
        except ValueError as error:  # a URL or host name no connection can be made to
            return _Verdict(None, request.redact(f"unusable URL: {error}"), retryable=False)
        text = request.redact(reply.body[:_LOGGED_BODY].decode("utf-8", "replace").strip())
        retryable = reply.status == 429 or reply.status >= 500
        retry_after = retry_after_s(reply.headers.get("retry-after"), datetime.now(UTC))
        return _Verdict(
            reply.status,
            f"HTTP {reply.status}" + (f": {text}" if text else ""),
            retryable=retryable,
            retry_after_s=retry_after if retryable else None,
        )


def _outcome(
    job: _Job,
    attempts: int,
    status: int | None,
    detail: str,
    waits: list[float] | None = None,
    *,
    delivered: bool = False,
) -> DeliveryOutcome:
    return DeliveryOutcome(
        sink=job.sink.name,
        kind=job.sink.kind,
        dedup_key=job.incident.dedup_key,
        state=job.incident.state,
        delivered=delivered,
        attempts=attempts,
        status=status,
        detail=detail,
        waits_s=tuple(waits or ()),
    )


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks to wait (delay-seconds or an HTTP-date).

    None when the header is absent or unreadable, so the normal backoff applies.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.match(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def post(
    url: str, body: bytes, content_type: str, *, timeout_s: float, tls: ssl.SSLContext
) -> HttpReply:
    """POSTs the body over a fresh HTTP/1.1 connection and returns the reply; no redirects.

    Raises:
        ValueError: for a URL that is not http(s) (the message never quotes the URL).
        OSError, TimeoutError, h11.ProtocolError: when the exchange fails.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("sink URL: must be an absolute http(s) URL")
    secure = parts.scheme == "https"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    authority = f"{host}:{parts.port}" if parts.port else host
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [
        ("Host", authority),
        ("User-Agent", USER_AGENT),
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Accept", "application/json, text/plain, */*"),
        ("Connection", "close"),
    ]
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(
            parts.hostname,
            parts.port or (443 if secure else 80),
            ssl=tls if secure else None,
            server_hostname=parts.hostname if secure else None,
        )
        try:
            connection = h11.Connection(h11.CLIENT)
            writer.write(
                connection.send(h11.Request(method="POST", target=target, headers=headers))
            )
            writer.write(connection.send(h11.Data(data=body)))
            writer.write(connection.send(h11.EndOfMessage()))
            await writer.drain()
            return await _read_reply(connection, reader)
        finally:
            writer.close()


async def _read_reply(connection: h11.Connection, reader: asyncio.StreamReader) -> HttpReply:
    response: h11.Response | None = None
    kept = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            kept += bytes(event.data)[: MAX_REPLY_BODY - len(kept)]
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if response is None:
        raise ConnectionError("the receiver closed the connection without answering")
    headers = {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in response.headers
    }
    return HttpReply(response.status_code, headers, bytes(kept))
