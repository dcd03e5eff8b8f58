"""The websocket step against a real in-process WebSocket chat bot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.harness.processes import free_port
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from cxj_journey.model import (
    Exchange,
    Expectation,
    Extraction,
    Header,
    SecretRef,
    Step,
    WebSocketStep,
)
from cxj_probe.steps.base import StepContext, StepOutcome
from cxj_probe.steps.websocket import run_websocket

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TOKEN = "Bearer chat-token-1"
ESCALATION_DELAY_S = 0.3


@dataclass
class ChatBot:
    """A chat bot: greets, chatters (typing, queue notices), escalates to an agent on request.

    /chat behaves; /closing crashes (closes 1011) on the first customer message;
    /silent greets, then never answers. Upgrades without the right token get 403.
    """

    port: int = 0
    handshakes: list[Headers] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    open_connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def check_token(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes.append(request.headers)
        if request.headers.get("Authorization") != TOKEN:
            return connection.respond(403, "no chat without a token\n")
        return None

    async def converse(self, connection: ServerConnection) -> None:
        self.open_connections += 1
        try:
            await self._converse(connection)
        except ConnectionClosed:
            pass  # the customer left; the test looks at what the probe reports
        finally:
            self.open_connections -= 1
            self.closed.set()

    async def _converse(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request else "/"
        await connection.send(json.dumps({"type": "typing"}))
        await connection.send(
            json.dumps({"type": "message", "from": "bot", "text": "Hi!", "session": "s-123"})
        )
        async for raw in connection:
            text = raw if isinstance(raw, str) else raw.decode()
            self.received.append(text)
            if path == "/closing":
                await connection.close(1011, "bot crashed")
                return
            if path == "/silent":
                continue
            await self._answer(connection, json.loads(text))

    async def _answer(self, connection: ServerConnection, message: dict[str, Any]) -> None:
        if "agent" not in message.get("text", ""):
            await connection.send(json.dumps({"from": "bot", "text": "Tell me more"}))
            return
        await connection.send(json.dumps({"type": "typing"}))
        await connection.send(json.dumps({"type": "queue", "position": 1}))
        await asyncio.sleep(ESCALATION_DELAY_S)  # an agent picks the conversation up
        await connection.send(
            json.dumps({"type": "message", "from": "agent", "agent": "Dana", "text": "Dana here"})
        )


@asynccontextmanager
async def chat_bot() -> AsyncIterator[ChatBot]:
    bot = ChatBot()
    server: Server
    async with serve(
        bot.converse,
        "127.0.0.1",
        0,
        process_request=bot.check_token,
        subprotocols=["chat.v1"],  # type: ignore[list-item]
    ) as server:
        bot.port = next(iter(server.sockets)).getsockname()[1]
        yield bot


def websocket_step(
    url: str,
    exchanges: tuple[Exchange, ...],
    *,
    extract: tuple[Extraction, ...] = (),
    headers: tuple[Header, ...] = (Header("Authorization", secret=SecretRef("chat", "token")),),
    timeout_s: float = 10.0,
) -> Step:
    action = WebSocketStep(url, ("chat.v1",), headers, exchanges)
    return Step("chat", "websocket", "platform", timeout_s, None, extract, action)


def context(step: Step, variables: dict[str, str] | None = None) -> StepContext:
    secrets = {("chat", "token"): TOKEN}
    return StepContext(
        variables or {},
        lambda name, key: secrets[(name, key)],
        {"traceparent": TRACEPARENT},
        step.timeout_s,
    )


def from_(who: str, timeout_s: float = 2.0, send: str | None = None) -> Exchange:
    return Exchange(Expectation("jsonPath", "equals", who, "$.from"), timeout_s, send)


def with_bot(scenario: Callable[[ChatBot], Awaitable[StepOutcome]]) -> tuple[ChatBot, StepOutcome]:
    async def main() -> tuple[ChatBot, StepOutcome]:
        async with chat_bot() as bot:
            outcome = await scenario(bot)
            if bot.received or bot.open_connections:
                # The step closed its socket before returning: the bot sees the end.
                await asyncio.wait_for(bot.closed.wait(), 5)
            return bot, outcome

    return asyncio.run(main())


def _run_at(
    path: str,
    exchanges: tuple[Exchange, ...],
    *,
    variables: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[ChatBot, StepOutcome]:
    async def scenario(bot: ChatBot) -> StepOutcome:
        step = websocket_step(bot.url(path), exchanges, **kwargs)
        return await run_websocket(step, context(step, variables))

    return with_bot(scenario)


def test_chat_greets_then_escalates_to_an_agent() -> None:
    escalate = '{"customer": "${customer}", "text": "I want an agent"}'
    bot, outcome = _run_at(
        "/chat",
        (from_("bot"), from_("agent", send=escalate)),
        variables={"customer": "c-42"},
        extract=(
            Extraction("session", "jsonPath", "$.session"),
            Extraction("agent", "jsonPath", "$.agent"),
        ),
    )
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["handshake", "exchange-1", "exchange-2"]
    # The agent answers only after the escalation delay: the round trip shows the wait.
    assert outcome.measurements["websocket.exchange.2.rtt"] >= ESCALATION_DELAY_S
    assert outcome.measurements["websocket.exchange.1.rtt"] > 0
    assert outcome.attributes["websocket.exchanges"] == 2
    assert outcome.attributes["websocket.messages.skipped"] == 3  # typing, typing, queue
    assert outcome.attributes["websocket.subprotocol"] == "chat.v1"
    assert outcome.attributes["server.port"] == bot.port
    assert outcome.variables == {"session": "s-123", "agent": "Dana"}
    assert json.loads(bot.received[0]) == {"customer": "c-42", "text": "I want an agent"}
    assert bot.handshakes[0]["traceparent"] == TRACEPARENT
    assert bot.handshakes[0]["User-Agent"].startswith("cxjourney-probe/")
    assert bot.open_connections == 0


def test_bot_closing_before_the_answer_is_closed() -> None:
    _, outcome = _run_at("/closing", (from_("bot"), from_("agent", send='{"text": "agent"}')))
    assert outcome.error_type == "closed"
    assert outcome.attributes["websocket.close.code"] == 1011
    assert "bot crashed" in (outcome.error_message or "")
    assert outcome.attributes["websocket.exchanges"] == 1
    assert [p.name for p in outcome.phases] == ["handshake", "exchange-1"]


def test_no_matching_message_times_out_naming_what_was_skipped() -> None:
    _, outcome = _run_at("/silent", (from_("agent", timeout_s=0.5),))
    assert outcome.error_type == "timeout"
    message = outcome.error_message or ""
    assert "exchange 1" in message
    assert "2 other messages" in message
    assert "jsonPath $.from equals 'agent'" in message


def test_upgrade_rejected_is_handshake_with_the_status() -> None:
    _, outcome = _run_at("/chat", (from_("bot"),), headers=())
    assert outcome.error_type == "handshake"
    assert outcome.attributes["http.response.status_code"] == 403
    assert "403" in (outcome.error_message or "")


def test_missing_variable_fails_before_sending() -> None:
    bot, outcome = _run_at("/chat", (from_("bot", send='{"text": "${nobody}"}'),))
    assert outcome.error_type == "variable"
    assert bot.received == []


def test_extraction_missing_from_every_message_fails() -> None:
    _, outcome = _run_at(
        "/chat", (from_("bot"),), extract=(Extraction("ticket", "jsonPath", "$.ticket"),)
    )
    assert outcome.error_type == "extraction"
    assert "ticket" in (outcome.error_message or "")


def test_cancelled_step_closes_its_socket() -> None:
    async def scenario(bot: ChatBot) -> StepOutcome:
        step = websocket_step(bot.url("/silent"), (from_("agent", timeout_s=30),))
        task = asyncio.ensure_future(run_websocket(step, context(step)))
        while not bot.open_connections:  # the bot has the customer on the line
            await asyncio.sleep(0.01)
        task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            return StepOutcome(0, 0, error_type="cancelled")

    bot, outcome = with_bot(scenario)
    assert outcome.error_type == "cancelled"
    assert bot.open_connections == 0


def test_nothing_listening_is_connection_refused() -> None:
    step = websocket_step(f"ws://127.0.0.1:{free_port()}/chat", (from_("bot"),))
    outcome = asyncio.run(run_websocket(step, context(step)))
    assert outcome.error_type == "connection_refused"
    assert outcome.phases == []
