"""The chat service's state: sessions, the bot's intents, conversations and handoffs to agents.

Pure: time comes from an injected clock, so the rules (who answers, how long a handoff
waits) are plain functions of what happened and when.
"""

from __future__ import annotations

import collections
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

AGENT_NAME = "Sam"
# Sessions, conversations and handoffs remembered at once; the oldest go first.
CAPACITY = 10_000

_AGENT_WORDS = ("agent", "human", "person", "someone", "representative", "operator")
_GREETINGS = ("hello", "hi", "hey", "good morning", "good afternoon")
BOT_REPLIES = {
    "greeting": "Hello! I'm the virtual assistant. How can I help you today?",
    "refund_status": "I can see your refund request. Refunds usually arrive within 5 days.",
    "agent_request": "Let me connect you to an agent. Please hold on.",
    "unknown": "Sorry, I didn't get that. You can ask about a refund or ask for an agent.",
}
AGENT_GREETING = f"Hi, this is {AGENT_NAME}. I have your conversation in front of me."
AGENT_FOLLOW_UP = "Thanks, let me look into that for you."
HOLD_ON = "An agent will be with you shortly."


def classify(text: str) -> str:
    """The bot's intent for a customer message: agent_request, refund_status, greeting, unknown."""
    lowered = text.lower()
    words = set("".join(c if c.isalnum() else " " for c in lowered).split())
    if words & set(_AGENT_WORDS):
        return "agent_request"
    if "refund" in lowered:
        return "refund_status"
    if any(greeting in words or lowered.startswith(greeting) for greeting in _GREETINGS):
        return "greeting"
    return "unknown"


def new_id(prefix: str) -> str:
    """A random, URL-safe identifier such as `s-3f9a…`."""
    return f"{prefix}-{secrets.token_hex(8)}"


K = TypeVar("K")
V = TypeVar("V")


class Bounded(Generic[K, V]):
    """A mapping that forgets its oldest entries past a capacity."""

    def __init__(self, capacity: int) -> None:
        self._items: collections.OrderedDict[K, V] = collections.OrderedDict()
        self._capacity = capacity

    def put(self, key: K, value: V) -> V:
        """Stores a value, evicting the oldest entries when full."""
        self._items[key] = value
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
        return value

    def get(self, key: K) -> V | None:
        """The value stored under key, if still remembered."""
        return self._items.get(key)


@dataclass
class ChatSession:
    """A web chat session opened by the widget."""

    id: str
    channel: str
    locale: str
    escalated: bool = False  # the customer asked for a person
    agent_joined: bool = False

    def to_json(self) -> dict[str, Any]:
        """The session as the API returns it."""
        return {"id": self.id, "channel": self.channel, "locale": self.locale}


@dataclass
class Conversation:
    """A conversation with the bot, turn by turn."""

    id: str
    transcript: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Handoff:
    """A conversation queued for a human agent, who picks it up after a fixed wait."""

    id: str
    conversation: Conversation
    reason: str
    queued_at: float
    answered_at: float

    def view(self, now: float) -> dict[str, Any]:
        """What the agent side sees: the transcript, the state and how long it waited."""
        answered = now >= self.answered_at
        waited = (self.answered_at if answered else now) - self.queued_at
        return {
            "handoffId": self.id,
            "conversationId": self.conversation.id,
            "reason": self.reason,
            "status": "assigned" if answered else "queued",
            "agent": AGENT_NAME if answered else None,
            "transcript": list(self.conversation.transcript),
            "waitSeconds": round(waited, 1),
        }


class ChatDesk:
    """Sessions, conversations and handoffs of the simulated chat service."""

    def __init__(self, agent_answer_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.agent_answer_s = agent_answer_s
        self.clock = clock
        self.sessions: Bounded[str, ChatSession] = Bounded(CAPACITY)
        self.conversations: Bounded[str, Conversation] = Bounded(CAPACITY)
        self.handoffs: Bounded[str, Handoff] = Bounded(CAPACITY)

    def open_session(self, channel: str, locale: str) -> ChatSession:
        """Starts a chat session."""
        session = ChatSession(new_id("s"), channel, locale)
        return self.sessions.put(session.id, session)

    def ask_bot(self, text: str, conversation_id: str | None) -> tuple[Conversation, str, str]:
        """The bot's answer to a message: the conversation (new unless given), intent, reply.

        Raises:
            KeyError: when conversation_id names no known conversation.
        """
        if conversation_id is None:
            conversation = Conversation(new_id("c"))
            self.conversations.put(conversation.id, conversation)
        else:
            known = self.conversations.get(conversation_id)
            if known is None:
                raise KeyError(conversation_id)
            conversation = known
        intent = classify(text)
        reply = BOT_REPLIES[intent]
        conversation.transcript.append({"from": "customer", "text": text})
        conversation.transcript.append({"from": "bot", "text": reply})
        return conversation, intent, reply

    def queue_handoff(self, conversation_id: str, reason: str) -> Handoff:
        """Queues a conversation for an agent.

        Raises:
            KeyError: when conversation_id names no known conversation.
        """
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            raise KeyError(conversation_id)
        now = self.clock()
        handoff = Handoff(new_id("h"), conversation, reason, now, now + self.agent_answer_s)
        return self.handoffs.put(handoff.id, handoff)

    def session_reply(self, session: ChatSession, text: str) -> tuple[dict[str, str], bool]:
        """The immediate answer to a message in a live chat, and whether an agent must join.

        The bot answers until the customer asks for a person; then it asks them to hold
        until the agent joins, and from there on the agent answers.
        """
        if session.agent_joined:
            return self.agent_message(session, AGENT_FOLLOW_UP), False
        if session.escalated:
            return _message("bot", session, HOLD_ON, "agent_request"), False
        intent = classify(text)
        session.escalated = intent == "agent_request"
        return _message("bot", session, BOT_REPLIES[intent], intent), session.escalated

    def agent_message(self, session: ChatSession, text: str = AGENT_GREETING) -> dict[str, str]:
        """A message from the agent, who from now on owns the chat."""
        session.agent_joined = True
        return {**_message("agent", session, text), "agent": AGENT_NAME}


def _message(sender: str, session: ChatSession, text: str, intent: str = "") -> dict[str, str]:
    message = {"from": sender, "session": session.id, "text": text}
    if intent:
        message["intent"] = intent
    return message
