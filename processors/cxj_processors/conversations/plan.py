"""Planning one synthetic conversation turn by turn, tallying its ground truth as it goes.

See generator.py for what is planted and why the ground truth follows from the plan.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from cxj_processors.conversations.model import (
    AGENT,
    BOT,
    CUSTOMER,
    Conversation,
    Dimensions,
    Segment,
)
from cxj_processors.conversations.phrases import content_words, words
from cxj_processors.conversations.policy import ConversationPolicy

PII = ("jane.doe@example.com", "4111 1111 1111 1111", "+44 20 7946 0958")


@dataclass(frozen=True)
class GeneratorOptions:
    """What to generate; probabilities are per conversation."""

    conversations: int = 50
    seed: int = 0
    first_start_s: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    mean_spacing_s: float = 900.0
    customers: int = 200
    anonymous: float = 0.1  # share of conversations without a customer id
    turns: tuple[int, int] = (8, 30)
    silence: float = 0.3
    talkover: float = 0.4
    lexicon: float = 0.2
    repetition: float = 0.15
    negativity: float = 0.15
    escalation: float = 0.15
    supervisor: float = 0.1
    bot: float = 0.3
    slow_transfer: float = 0.3  # of conversations with a bot
    disclosure_missed: float = 0.2
    empathy: float = 0.5
    pii: float = 0.3
    text: bool = True


@dataclass
class GroundTruth:
    """What the analyzer must find in one conversation, known from how it was built."""

    duration_s: float = 0.0
    talk_s: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    nontalk_s: float = 0.0
    overlap_s: float = 0.0
    silence_events: int = 0
    longest_silence_s: float = 0.0
    talkover_events: int = 0
    talkover_by: dict[tuple[int, int], int] = field(default_factory=dict)
    words: list[int] = field(default_factory=lambda: [0, 0, 0])
    lexicon_hits: int = 0
    repeats: int = 0
    rising_negativity: bool = False
    frustrated: bool = False
    escalation_phrases: int = 0
    supervisor_requests: int = 0
    bot_transfer: bool = False
    transfer_wait_s: float = math.nan
    slow_transfer: bool = False
    escalated: bool = False
    disclosure_met: bool = True
    empathy_phrases: int = 0
    repeat_contact: bool = False
    pii: list[str] = field(default_factory=list)


@dataclass
class SyntheticConversation:
    """One generated conversation and its ground truth."""

    conversation: Conversation
    truth: GroundTruth


class ConversationPlan:
    """Plans one conversation's turns and tallies the ground truth as it goes."""

    def __init__(
        self,
        rng: random.Random,
        options: GeneratorOptions,
        policy: ConversationPolicy,
        vocabulary: list[str],
        start: float,
    ) -> None:
        self.rng = rng
        self.options = options
        self.policy = policy
        self.vocabulary = vocabulary
        self.start = start
        self.cursor = start  # end of the latest turn
        self.segments: list[Segment] = []
        self.truth = GroundTruth()
        self.customer_sentences: list[frozenset[str]] = []

    def chance(self, probability: float) -> bool:
        """True with the given probability."""
        return self.rng.random() < probability

    def build(
        self, conversation_id: str, dimensions: Dimensions, customer: str | None
    ) -> SyntheticConversation:
        """Plans every turn of the conversation and returns it with its ground truth."""
        o, truth = self.options, self.truth
        plan = {
            "silence": self.chance(o.silence),
            "talkover": self.chance(o.talkover),
            "lexicon": self.chance(o.lexicon),
            "repetition": self.chance(o.repetition),
            "negativity": self.chance(o.negativity),
            "escalation": self.chance(o.escalation),
            "supervisor": self.chance(o.supervisor),
            "bot": self.chance(o.bot),
            "missed": self.chance(o.disclosure_missed),
            "empathy": self.chance(o.empathy),
            "pii": self.chance(o.pii),
        }
        pairs = max(self.rng.randint(*o.turns) // 2, 5, self.policy.repeat_min_repeats + 3)
        customer_lines = self._customer_lines(plan, pairs + (1 if plan["bot"] else 0))
        agent_lines = self._agent_lines(plan, pairs - 1)
        self._lead()
        if plan["bot"]:
            self._prologue(plan, customer_lines)
        else:
            self._turn(AGENT, self._agent_greeting(plan), plan, start=self.cursor)
        while customer_lines:  # customer and agent alternate; the customer speaks last
            self._turn(CUSTOMER, customer_lines.pop(0), plan)
            if agent_lines:
                self._turn(AGENT, agent_lines.pop(0), plan)
        end = self.cursor + self.rng.uniform(0.2, 1.5)
        self._gap(end - self.cursor)
        truth.duration_s = end - self.start
        self._sentiments(plan["negativity"])
        truth.frustrated = (
            truth.lexicon_hits >= self.policy.min_lexicon_hits
            or truth.repeats >= self.policy.repeat_min_repeats
            or truth.rising_negativity
        )
        truth.escalated = bool(
            truth.escalation_phrases or truth.supervisor_requests or truth.bot_transfer
        )
        conversation = Conversation(
            conversation_id,
            self.segments if o.text else [_without_text(s) for s in self.segments],
            start_s=self.start,
            end_s=end,
            dimensions=dimensions,
            customer_id=customer,
        )
        if not o.text:
            truth.disclosure_met = True  # not judged without text
        return SyntheticConversation(conversation, truth)

    # -- timeline ------------------------------------------------------------------------
    def _lead(self) -> None:
        self.cursor = self.start + self.rng.uniform(0.3, 2.0)
        self._gap(self.cursor - self.start)

    def _gap(self, seconds: float) -> None:
        self.truth.nontalk_s += seconds
        self.truth.longest_silence_s = max(self.truth.longest_silence_s, seconds)
        if seconds > self.policy.silence_threshold_s:
            self.truth.silence_events += 1

    def _next_start(self, previous_role: int | None, role: int, plan: dict[str, bool]) -> float:
        threshold = self.policy.silence_threshold_s
        roll = self.rng.random()
        if previous_role is not None and plan["talkover"] and roll < 0.25:
            low = max(0.3, self.policy.min_overlap_s + 0.2)
            overlap = self.rng.uniform(low, max(low, 1.2))
            self.truth.overlap_s += overlap
            self.truth.talkover_events += 1
            key = (role, previous_role)
            self.truth.talkover_by[key] = self.truth.talkover_by.get(key, 0) + 1
            return self.cursor - overlap
        if plan["silence"] and roll > 0.85:
            gap = self.rng.uniform(threshold + 1.0, threshold + 12.0)
        else:
            gap = self.rng.uniform(0.2, max(0.3, min(threshold - 0.5, 2.5)))
        self._gap(gap)
        return self.cursor + gap

    def _turn(
        self, role: int, text: str, plan: dict[str, bool], start: float | None = None
    ) -> None:
        previous = self.segments[-1].role if self.segments else None
        begin = start if start is not None else self._next_start(previous, role, plan)
        length = self.rng.uniform(2.5, 9.0)
        self.segments.append(Segment(role, begin, begin + length, text))
        self.truth.talk_s[role] += length
        self.truth.words[role] += len(words(text))
        self.cursor = begin + length

    def _prologue(self, plan: dict[str, bool], customer_lines: list[str]) -> None:
        truth = self.truth
        greeting = "hello this is the virtual assistant"
        if not plan["missed"]:
            greeting += (
                " " + self.policy.disclosures[0].phrases[0] if self.policy.disclosures else ""
            )
            plan["disclosed"] = True
        self._turn(BOT, greeting, plan, start=self.cursor)
        self._turn(CUSTOMER, customer_lines.pop(0), plan)
        self._turn(BOT, "please hold while i connect you", plan)
        slow = self.chance(self.options.slow_transfer)
        limit = self.policy.transfer_max_wait_s
        wait = (
            self.rng.uniform(limit + 2.0, limit + 30.0)
            if slow
            else self.rng.uniform(3.0, limit - 2.0)
        )
        truth.bot_transfer = True
        truth.transfer_wait_s = wait
        truth.slow_transfer = slow
        self._gap(wait)
        self.cursor += wait
        self._turn(AGENT, self._agent_greeting(plan), plan, start=self.cursor)

    # -- words ---------------------------------------------------------------------------
    def _sentence(self, size: int) -> str:
        return " ".join(self.rng.sample(self.vocabulary, size))

    def _neutral_customer(self) -> str:
        for _ in range(100):
            sentence = self._sentence(self.rng.randint(5, 9))
            content = content_words(words(sentence))
            if all(len(content & o) < 0.3 * len(content | o) for o in self.customer_sentences):
                self.customer_sentences.append(content)
                return sentence
        raise RuntimeError("vocabulary too small to keep customer turns dissimilar")

    def _customer_lines(self, plan: dict[str, bool], count: int) -> list[str]:
        truth = self.truth
        lines = [self._neutral_customer() for _ in range(count)]
        free = list(range(1, count))  # the first line answers the greeting; it stays neutral
        if plan["repetition"]:
            repeated = self._neutral_customer()
            times = self.policy.repeat_min_repeats
            for slot in self.rng.sample(free, times + 1):
                lines[slot] = repeated
                free.remove(slot)
            truth.repeats = times
        planted: list[str] = []
        if plan["lexicon"]:
            hits = self.rng.randint(1, 2)
            planted += [self.rng.choice(self.policy.lexicon) for _ in range(hits)]
            truth.lexicon_hits = hits
        if plan["escalation"]:
            planted.append(self.rng.choice(self.policy.escalation_phrases))
            truth.escalation_phrases = 1
        if plan["supervisor"]:
            planted.append(self.rng.choice(self.policy.supervisor_phrases))
            truth.supervisor_requests = 1
        if plan["pii"]:
            truth.pii = list(self.rng.sample(PII, 2))
            planted += [f"it is {item}" for item in truth.pii]
        for extra in planted:  # several may share a turn; repeated turns stay identical
            slot = self.rng.choice(free)
            lines[slot] = f"{lines[slot]} {extra}"
        return lines

    def _agent_greeting(self, plan: dict[str, bool]) -> str:
        greeting = f"good {self.rng.choice(('morning', 'afternoon'))} how can i help"
        if not plan["missed"] and "disclosed" not in plan and self.policy.disclosures:
            greeting += " " + self.policy.disclosures[0].phrases[0]
            plan["disclosed"] = True
        return greeting

    def _agent_lines(self, plan: dict[str, bool], count: int) -> list[str]:
        lines: list[str] = []
        while len(lines) < count:
            line = self._sentence(self.rng.randint(6, 12))
            if plan["empathy"] and self.chance(0.3):
                line = f"{self.rng.choice(self.policy.empathy_phrases)} {line}"
                self.truth.empathy_phrases += 1
            lines.append(line)
        self.truth.disclosure_met = not plan["missed"] or not self.policy.disclosures
        return lines

    def _sentiments(self, falling: bool) -> None:
        half = self.start + self.truth.duration_s / 2
        halves = set()
        for index, segment in enumerate(self.segments):
            middle = (segment.start_s + segment.end_s) / 2
            if segment.role != CUSTOMER:
                value = self.rng.uniform(0.0, 0.5)
            elif falling:  # positive in the first half, negative in the second
                value = 0.5 if middle < half else -0.5
                halves.add(middle < half)
            else:
                value = self.rng.uniform(0.1, 0.6)
            self.segments[index] = Segment(
                segment.role, segment.start_s, segment.end_s, segment.text, value
            )
        self.truth.rising_negativity = halves == {True, False}


def _without_text(segment: Segment) -> Segment:
    return Segment(segment.role, segment.start_s, segment.end_s, None, segment.sentiment)
