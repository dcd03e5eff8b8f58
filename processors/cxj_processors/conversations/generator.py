"""Synthetic conversations with known ground truth, for tests, demos and benchmarks.

Each conversation is built turn by turn from planted features, and its ground truth is
derived from the plan, never by running the analyzer's algorithms:

* turns alternate between two roles (bot and customer in a bot prologue, then agent and
  customer), so consecutive turns never share a role; each turn lasts 2.5-9 s;
* the gap before each turn is a normal pause (shorter than the silence threshold by at
  least 0.5 s), a planted silence (longer by at least 1 s) or a planted talk-over (the turn
  starts 0.3-1.2 s before the previous one ends, and at least 0.2 s above the policy's
  talkOver.minOverlap); since turns last at least 2.5 s, no turn overlaps any but its
  neighbours, so talk, non-talk, overlap, silence and talk-over counts follow from the plan;
* words come from a neutral vocabulary that shares no word with any phrase of the policy,
  and neutral customer turns are kept dissimilar (Jaccard < 0.3), so every phrase hit and
  repeat is a planted one.

Seeded: the same options give the same conversations. docs/conversations.md lists every
planted feature and the ground truth it implies.
"""

from __future__ import annotations

import random

from cxj_processors.conversations.model import Dimensions
from cxj_processors.conversations.phrases import words
from cxj_processors.conversations.plan import (
    ConversationPlan,
    GeneratorOptions,
    GroundTruth,
    SyntheticConversation,
)
from cxj_processors.conversations.policy import ConversationPolicy

__all__ = ["GeneratorOptions", "GroundTruth", "SyntheticConversation", "generate"]

_NEUTRAL = (  # noqa: SIM905 - a word list reads best as prose
    "account balance statement branch address update order parcel delivery invoice refund "
    "transfer payment card limit pin password login device app website email letter "
    "morning afternoon weekend monday friday holiday travel abroad currency rate fee charge "
    "interest savings mortgage loan insurance claim policy renewal premium cover garden "
    "kitchen window boiler engineer appointment visit booking reference number postcode "
    "street city country phone mobile tablet laptop printer router signal broadband speed "
    "upgrade plan contract tariff bundle discount voucher loyalty points reward gift "
    "birthday family daughter son husband wife neighbour colleague office school college "
    "bank cheque deposit cash machine receipt paperwork form signature document copy "
    "scan photo upload download screen button menu option setting profile name surname"
).split()


def generate(options: GeneratorOptions, policy: ConversationPolicy) -> list[SyntheticConversation]:
    """Conversations in order of start, each with its ground truth under `policy`."""
    rng = random.Random(options.seed)
    vocabulary = _vocabulary(policy)
    agents = [(f"agent-{n:02d}", ("north", "south")[n % 2]) for n in range(12)]
    start = options.first_start_s
    made: list[SyntheticConversation] = []
    for index in range(options.conversations):
        start += rng.expovariate(1.0 / options.mean_spacing_s)
        agent, team = rng.choice(agents)
        customer = (
            None
            if rng.random() < options.anonymous
            else f"customer-{rng.randrange(options.customers):03d}"
        )
        builder = ConversationPlan(rng, options, policy, vocabulary, start)
        made.append(
            builder.build(
                f"conv-{options.seed}-{index:05d}",
                Dimensions(team, rng.choice(("billing", "cards", "payments")), agent),
                customer,
            )
        )
    _mark_repeat_contacts(made, policy.repeat_window_s)
    return made


def _vocabulary(policy: ConversationPolicy) -> list[str]:
    taken = {
        word
        for phrase in (
            *policy.lexicon,
            *policy.escalation_phrases,
            *policy.supervisor_phrases,
            *policy.empathy_phrases,
            *(p for rule in policy.disclosures for p in rule.phrases),
        )
        for word in words(phrase)
    }
    return [word for word in _NEUTRAL if word not in taken]


def _mark_repeat_contacts(made: list[SyntheticConversation], window_s: float) -> None:
    last_start: dict[str, float] = {}
    for item in made:  # already in order of start
        customer = item.conversation.customer_id
        start = item.conversation.start_s or 0.0
        if customer is None:
            continue
        item.truth.repeat_contact = (
            customer in last_start and start - last_start[customer] <= window_s
        )
        last_start[customer] = start
