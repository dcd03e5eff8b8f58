"""The websocket step: open the chat channel, then send and await messages, timing each."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Subprotocol

from cxj_journey import __version__
from cxj_journey.model import Exchange, Expectation, Extraction, Header, Step, WebSocketStep
from cxj_probe.checks import compare, extract, lookup
from cxj_probe.steps.base import Phase, StepContext, StepFailure, StepOutcome, now_ns, render

USER_AGENT = f"cxjourney-probe/{__version__}"
_SHOWN = 120  # characters of a message quoted in an error


def message_matches(expect: Expectation, text: str) -> bool:
    """Whether a received message is the one an exchange waits for."""
    actual = lookup(expect.source, expect.property, status=None, headers={}, text=text)
    return compare(expect.operator, actual, expect.value)


def describe(expect: Expectation) -> str:
    """The expectation in words, for error messages: jsonPath $.from equals 'agent'."""
    what = " ".join(p for p in (expect.source, expect.property) if p)
    return f"{what} {expect.operator} {expect.value!r}"


def extract_from_messages(
    extractions: tuple[Extraction, ...], matched: list[str]
) -> dict[str, str]:
    """Captures each variable from the newest matched message that holds it.

    Raises:
        StepFailure: (the error.type checks.extract uses) when no matched message holds it.
    """
    values: dict[str, str] = {}
    for item in extractions:
        holders = [text for text in reversed(matched) if _holds(item, text)]
        # The newest holder wins; with none, extract() raises with the user-facing message.
        values.update(extract((item,), headers={}, text=holders[0] if holders else ""))
    return values


def _holds(item: Extraction, text: str) -> bool:
    if item.source == "regex":
        return re.search(item.expression or "", text) is not None
    return lookup(item.source, item.expression, status=None, headers={}, text=text) is not None


def handshake_headers(headers: tuple[Header, ...], context: StepContext) -> list[tuple[str, str]]:
    """The upgrade request's extra headers: the step's (Secrets resolved), then trace context."""
    result: list[tuple[str, str]] = []
    for header in headers:
        if header.secret is not None:
            value = context.secrets(header.secret.name, header.secret.key)
        else:
            value = render(header.value or "", context.variables)
        result.append((header.name, value))
    result.extend(context.trace_headers.items())
    return result


def redacted_url(url: str) -> str:
    """The URL without user information, as url.full may carry it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"REDACTED:REDACTED@{host}", *parts[2:]))


def server_attributes(url: str) -> dict[str, str | int]:
    """url.full, server.address and server.port of a ws:// or wss:// URL."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "wss" else 80
    return {
        "url.full": redacted_url(url),
        "server.address": parts.hostname or "",
        "server.port": parts.port or default_port,
    }


async def run_websocket(step: Step, context: StepContext) -> StepOutcome:
    """Runs a websocket step: the upgrade handshake, then each exchange in order.

    Phases: handshake (TCP, TLS for wss and the HTTP upgrade), then exchange-1, exchange-2,
    ... each from sending its message (or from the previous match when it sends nothing)
    to the matching message. Failures are returned in the outcome, never raised.
    """
    action = step.action
    if not isinstance(action, WebSocketStep):
        raise TypeError(f"run_websocket got a {type(action).__name__} step")
    outcome = StepOutcome(start_ns=now_ns(), end_ns=0)
    outcome.attributes.update(server_attributes(action.url))
    outcome.attributes["websocket.exchanges"] = 0
    try:
        await _converse(step, action, context, outcome)
    except StepFailure as failure:
        outcome.error_type, outcome.error_message = failure.error_type, failure.message
    finally:
        outcome.end_ns = outcome.end_ns or now_ns()
    return outcome


async def _converse(
    step: Step, action: WebSocketStep, context: StepContext, outcome: StepOutcome
) -> None:
    headers = handshake_headers(action.headers, context)
    started = now_ns()
    connection = await _open(action, headers, context.timeout_s, outcome)
    outcome.phases.append(Phase("handshake", started, now_ns()))
    try:
        if connection.subprotocol is not None:
            outcome.attributes["websocket.subprotocol"] = connection.subprotocol
        matched: list[str] = []
        skipped = 0
        for number, exchange in enumerate(action.exchanges, start=1):
            text, skipped_here = await _exchange(
                connection, number, exchange, context.variables, outcome
            )
            skipped += skipped_here
            outcome.attributes["websocket.messages.skipped"] = skipped
            matched.append(text)
            outcome.attributes["websocket.exchanges"] = number
        outcome.variables.update(extract_from_messages(step.extract, matched))
        # The journey is done here; the closing handshake is courtesy, not experience.
        outcome.end_ns = now_ns()
        await connection.close()
    finally:
        # A failed or cancelled step must not leave the socket open: abort, no handshake.
        connection.transport.abort()


async def _open(
    action: WebSocketStep, headers: list[tuple[str, str]], timeout_s: float, outcome: StepOutcome
) -> ClientConnection:
    try:
        return await connect(
            action.url,
            additional_headers=headers,
            subprotocols=[Subprotocol(s) for s in action.subprotocols] or None,
            user_agent_header=USER_AGENT,
            proxy=None,
            open_timeout=timeout_s,
            ping_interval=None,
            close_timeout=1,
        )
    except InvalidStatus as error:
        status = error.response.status_code
        outcome.attributes["http.response.status_code"] = status
        raise StepFailure(
            "handshake", f"the server rejected the WebSocket upgrade with HTTP {status}"
        ) from error
    except InvalidURI as error:
        raise StepFailure("protocol", f"websocket.url is not a WebSocket URL: {error}") from error
    except InvalidHandshake as error:
        raise StepFailure("handshake", f"WebSocket upgrade failed: {error}") from error
    except socket.gaierror as error:
        host = outcome.attributes["server.address"]
        raise StepFailure("name_resolution", f"cannot resolve {host}: {error}") from error
    except ssl.SSLError as error:
        raise StepFailure("tls", f"TLS handshake failed: {error}") from error
    except TimeoutError as error:
        raise StepFailure("timeout", f"no WebSocket handshake within {timeout_s:g}s") from error
    except OSError as error:
        where = f"{outcome.attributes['server.address']}:{outcome.attributes['server.port']}"
        raise StepFailure("connection_refused", f"cannot connect to {where}: {error}") from error


async def _exchange(
    connection: ClientConnection,
    number: int,
    exchange: Exchange,
    variables: Mapping[str, str],
    outcome: StepOutcome,
) -> tuple[str, int]:
    """Sends, then reads until a message matches; returns it and how many were skipped."""
    send, expect, timeout_s = exchange.send, exchange.expect, exchange.timeout_s
    started, clock = now_ns(), time.perf_counter()
    skipped, last = 0, ""
    try:
        if send is not None:
            await connection.send(render(send, variables))
        deadline = clock + timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError
            message = await _receive(connection, remaining)
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if message_matches(expect, text):
                break
            skipped, last = skipped + 1, text
    except TimeoutError as error:
        seen = f"; {skipped} other messages, the last {last[:_SHOWN]!r}" if skipped else ""
        raise StepFailure(
            "timeout",
            f"exchange {number}: no message where {describe(expect)} within {timeout_s:g}s{seen}",
        ) from error
    except ConnectionClosed as error:
        code = error.rcvd.code if error.rcvd is not None else 1006
        reason = error.rcvd.reason if error.rcvd is not None else ""
        outcome.attributes["websocket.close.code"] = code
        raise StepFailure(
            "closed",
            f"exchange {number}: the server closed the connection (code {code}"
            f"{', ' + repr(reason) if reason else ''}) before a message where "
            f"{describe(expect)}",
        ) from error
    rtt = time.perf_counter() - clock
    outcome.phases.append(Phase(f"exchange-{number}", started, now_ns()))
    outcome.measurements[f"websocket.exchange.{number}.rtt"] = rtt
    return text, skipped


async def _receive(connection: ClientConnection, timeout_s: float) -> str | bytes:
    async with asyncio.timeout(timeout_s):
        return await connection.recv()
