"""The simulated chat service: the widget, sessions, a live chat over WebSocket, the bot API.

A customer's chat is answered by the bot; asking for a person brings an agent into the
same WebSocket after a short wait. The bot API and the handoff queue serve the
bot-to-human journey: the agent side sees the conversation's transcript and its wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from cxj_standalone.stack import assets
from cxj_standalone.stack.chat_desk import ChatDesk, ChatSession
from cxj_standalone.stack.http_server import (
    HttpError,
    HttpRequest,
    HttpResponse,
    HttpServer,
    json_response,
)
from cxj_standalone.stack.websocket_channel import WebSocketChannel

HANDOFF_PREFIX = "/api/handoff/"
_PAGES = {
    ("GET", "/"): (assets.CHAT_HTML, "text/html; charset=utf-8"),
    ("GET", "/widget.js"): (assets.WIDGET_JS, "application/javascript; charset=utf-8"),
    ("GET", "/healthz"): ("ok\n", "text/plain; charset=utf-8"),
}
_ROUTES = {
    *_PAGES,
    ("POST", "/api/sessions"),
    ("POST", "/api/bot/messages"),
    ("POST", "/api/handoff"),
}


class ChatService:
    """The chat service's routes and its WebSocket, over an HttpServer."""

    def __init__(self, host: str, port: int, agent_answer_s: float) -> None:
        self.desk = ChatDesk(agent_answer_s)
        self.server = HttpServer("chat", host, port, self.handle, websockets={"/ws": self.converse})

    async def handle(self, request: HttpRequest) -> HttpResponse:
        """Answers one plain HTTP request."""
        route = (request.method, request.path)
        if route in _PAGES:
            text, content_type = _PAGES[route]
            return HttpResponse(200, text.encode(), content_type)
        if route == ("POST", "/api/sessions"):
            return self._open_session(request)
        if route == ("POST", "/api/bot/messages"):
            return self._ask_bot(request)
        if route == ("POST", "/api/handoff"):
            return self._queue_handoff(request)
        if request.method == "GET" and request.path.startswith(HANDOFF_PREFIX):
            return self._handoff(request.path.removeprefix(HANDOFF_PREFIX))
        if request.path == "/ws":
            raise HttpError(
                426, "/ws is a WebSocket: send an upgrade request", (("Upgrade", "websocket"),)
            )
        allowed = sorted(method for method, path in _ROUTES if path == request.path)
        if allowed:
            raise HttpError(
                405,
                f"{request.path} answers {', '.join(allowed)}",
                (("Allow", ", ".join(allowed)),),
            )
        raise HttpError(404, f"no route for {request.method} {request.path}")

    def _handoff(self, handoff_id: str) -> HttpResponse:
        handoff = self.desk.handoffs.get(handoff_id)
        if handoff is None:
            raise HttpError(404, f"no handoff {handoff_id}")
        return json_response(200, handoff.view(self.desk.clock()))

    def _open_session(self, request: HttpRequest) -> HttpResponse:
        body = _object(request)
        session = self.desk.open_session(
            str(body.get("channel", "web")), str(body.get("locale", "en"))
        )
        return json_response(201, {"session": session.to_json()})

    def _ask_bot(self, request: HttpRequest) -> HttpResponse:
        body = _object(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise HttpError(400, 'the body must be JSON with "text": the customer\'s message')
        conversation_id = body.get("conversationId")
        try:
            conversation, intent, reply = self.desk.ask_bot(
                text, str(conversation_id) if conversation_id else None
            )
        except KeyError as error:
            raise HttpError(404, f"no conversation {conversation_id}") from error
        return json_response(
            200, {"conversationId": conversation.id, "intent": intent, "reply": reply}
        )

    def _queue_handoff(self, request: HttpRequest) -> HttpResponse:
        body = _object(request)
        conversation_id = body.get("conversationId")
        if not isinstance(conversation_id, str) or not conversation_id:
            raise HttpError(400, 'the body must name the conversation: "conversationId"')
        try:
            handoff = self.desk.queue_handoff(conversation_id, str(body.get("reason", "")))
        except KeyError as error:
            raise HttpError(
                404, f"no conversation {conversation_id}: start one with POST /api/bot/messages"
            ) from error
        return json_response(
            202, {"handoffId": handoff.id, "status": "queued", "conversationId": conversation_id}
        )

    async def converse(self, request: HttpRequest, channel: WebSocketChannel) -> None:
        """Answers a live chat until the customer closes it."""
        joining: set[asyncio.Task[None]] = set()
        try:
            while (text := await channel.receive()) is not None:
                await self._answer(channel, text, joining)
        finally:
            for task in joining:
                task.cancel()

    async def _answer(
        self, channel: WebSocketChannel, raw: str, joining: set[asyncio.Task[None]]
    ) -> None:
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            await _send(channel, {"from": "system", "error": 'send JSON: {"session", "text"}'})
            return
        session = self.desk.sessions.get(str(message.get("session")))
        if session is None:
            await _send(
                channel,
                {"from": "system", "error": "unknown session: open one with POST /api/sessions"},
            )
            return
        reply, agent_needed = self.desk.session_reply(session, message["text"])
        await _send(channel, reply)
        if agent_needed:
            task = asyncio.create_task(self._agent_joins(channel, session))
            joining.add(task)
            task.add_done_callback(joining.discard)

    async def _agent_joins(self, channel: WebSocketChannel, session: ChatSession) -> None:
        await asyncio.sleep(self.desk.agent_answer_s)
        # A customer who left before the agent came has no one to greet.
        with contextlib.suppress(ConnectionError):
            await _send(channel, self.desk.agent_message(session))


async def _send(channel: WebSocketChannel, message: dict[str, str]) -> None:
    # json's default separators give `"from": "agent"`, the text journeys match on.
    await channel.send(json.dumps(message))


def _object(request: HttpRequest) -> dict[str, object]:
    body = request.json()
    if not isinstance(body, dict):
        raise HttpError(400, "the body must be a JSON object")
    return body
