"""Conversation signals: timing kernels in segments/s on one core, phrase matching separately.

Prints, for one workload of synthetic segments (alternating speakers with pauses, silences
and talk-overs):
* segments/s of the timing kernel (`timing_signals`), of validation, and of every kernel of
  the timing path together, on already ordered arrays (as the analyzer builds them), plus
  the cost of ordering shuffled input; the target is >= 2 M segments/s for the timing
  signals;
* segments/s of the slow reference (tests/naive_conversations.py) on a slice of the same
  workload, and the ratio;
* phrase matching (all of a policy's lists in one pass) in turns/s and words/s, against
  matching each phrase with its own regular expression, the obvious way;
* redaction in characters/s, and the streaming analyzer end to end (OTLP logs in) in
  records/s, for scale.
The kernels are single-threaded (no numba parallel), so the figures are one core's.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from cxj_processors.conversations import encode, kernels
from cxj_processors.conversations.analyzer import ConversationAnalyzer
from cxj_processors.conversations.generator import GeneratorOptions, generate
from cxj_processors.conversations.phrases import matcher_for, words
from cxj_processors.conversations.policy import default_policy
from cxj_processors.conversations.redact import redactor_for

SEGMENTS_PER_CONVERSATION = 12
TARGET = 2_000_000


def workload(conversations: int, seed: int = 1) -> dict[str, npt.NDArray[np.generic]]:
    """Ordered segments: alternating agent/customer turns, 10% silences, 20% talk-overs."""
    rng = np.random.default_rng(seed)
    per = SEGMENTS_PER_CONVERSATION
    n = conversations * per
    lengths = rng.uniform(2.5, 9.0, n)
    gaps = rng.uniform(0.2, 2.0, n)
    roll = rng.random(n)
    gaps = np.where(roll < 0.1, rng.uniform(6.0, 20.0, n), gaps)
    gaps = np.where(roll > 0.8, -rng.uniform(0.3, 1.2, n), gaps)
    steps = np.empty((conversations, per))
    steps[:, 0] = rng.uniform(0.3, 2.0, conversations)  # the pause before the first turn
    steps[:, 1:] = (lengths + gaps).reshape(conversations, per)[:, :-1]  # start to next start
    starts = np.cumsum(steps, axis=1)
    starts += (np.arange(conversations) * 3600.0)[:, None]
    start = starts.ravel()
    end = start + lengths
    role = np.tile(np.arange(per, dtype=np.int8) % 2, conversations)
    conv_start = start.reshape(conversations, per)[:, 0] - steps[:, 0]
    conv_end = end.reshape(conversations, per).max(axis=1) + 1.0
    return {
        "conversation": np.repeat(np.arange(conversations, dtype=np.int64), per),
        "role": role,
        "start": start,
        "end": end,
        "sentiment": rng.uniform(-1, 1, n),
        "words": rng.integers(-1, 30, n).astype(np.int32),
        "conv_start": conv_start,
        "conv_end": conv_end,
    }


def best_rate(count: int, run: Callable[[], object], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def timing_kernels(w: dict[str, npt.NDArray[np.generic]]) -> dict[str, float]:
    args = (w["conversation"], w["role"], w["start"], w["end"], w["conv_start"], w["conv_end"])
    n = w["conversation"].shape[0]

    def timing() -> object:
        return kernels.timing_signals(*args, 5.0, 0.5)

    def validate() -> object:
        return kernels.validate_segments(*args, 1.0, 43200.0)

    def everything() -> object:
        kernels.validate_segments(*args, 1.0, 43200.0)
        kernels.timing_signals(*args, 5.0, 0.5)
        kernels.sentiment_by_quarter(*args[:4], w["sentiment"], *args[4:])  # type: ignore[arg-type]
        return kernels.talk_speed(*args[:4], w["words"], *args[4:])  # type: ignore[arg-type]

    shuffle = np.random.default_rng(2).permutation(n)
    shuffled = [w[k][shuffle] for k in ("conversation", "role", "start", "end")]

    def ordering() -> object:
        return kernels.segment_order(*shuffled)  # type: ignore[arg-type]

    everything()  # compile (or load from the cache) outside the timing
    return {
        "timing": best_rate(n, timing),
        "validate": best_rate(n, validate),
        "path": best_rate(n, everything),
        "order": best_rate(n, ordering, repeats=3),
    }


def reference(w: dict[str, npt.NDArray[np.generic]], conversations: int) -> float:
    from tests import naive_conversations as naive

    per = SEGMENTS_PER_CONVERSATION
    calls = []
    for c in range(conversations):
        rows = range(c * per, (c + 1) * per)
        turns = [(int(w["role"][i]), float(w["start"][i]), float(w["end"][i])) for i in rows]
        calls.append((turns, float(w["conv_start"][c]), float(w["conv_end"][c])))

    def run() -> object:
        return [naive.timing(turns, first, last, 5.0, 0.5) for turns, first, last in calls]

    return best_rate(conversations * per, run, repeats=2)


def phrase_matching() -> dict[str, float]:
    policy = default_policy()
    matcher = matcher_for(policy)
    made = generate(GeneratorOptions(conversations=300, seed=3), policy)
    texts = [s.text for m in made for s in m.conversation.segments if s.text]
    tokenized = [words(t) for t in texts]
    word_count = sum(len(t) for t in tokenized)
    phrases = [p for category in (policy.lexicon, policy.escalation_phrases,
               policy.supervisor_phrases, policy.empathy_phrases) for p in category]  # fmt: skip
    phrases += [p for rule in policy.disclosures for p in rule.phrases]
    one_regex_each = [re.compile(rf"\b{re.escape(p)}\b", re.IGNORECASE) for p in phrases]

    def indexed() -> object:
        return [matcher.find(words(t)) for t in texts]

    def per_phrase() -> object:
        return [[r.findall(t) for r in one_regex_each] for t in texts]

    redactor = redactor_for(policy)
    characters = sum(len(t) for t in texts)
    rates = {
        "turns": best_rate(len(texts), indexed),
        "words": best_rate(word_count, indexed),
        "baseline_turns": best_rate(len(texts), per_phrase),
        "phrases": float(len(phrases)),
        "redaction_chars": best_rate(characters, lambda: [redactor.redact(t) for t in texts]),
    }
    big = [
        f"{random.Random(i).choice(('please', 'kindly'))} phrase number {i}" for i in range(2000)
    ]
    big_matcher = type(matcher)({"lexicon": big, **{"empathy": policy.empathy_phrases}})
    rates["turns_2000_phrases"] = best_rate(
        len(texts), lambda: [big_matcher.find(words(t)) for t in texts]
    )
    return rates


def streaming() -> float:
    policy = default_policy()
    made = generate(GeneratorOptions(conversations=400, seed=5), policy)
    payloads = list(encode.batches(encode.interleaved([m.conversation for m in made]), 500))
    records = sum(len(m.conversation.segments) + 1 for m in made)
    ConversationAnalyzer(policy).accept_logs(payloads[0])  # warm up

    def run() -> object:
        analyzer = ConversationAnalyzer(policy)
        for payload in payloads:
            analyzer.accept_logs(payload)
        return analyzer.summaries_request(1)

    return best_rate(records, run, repeats=3)


def main() -> None:
    conversations = 200_000
    w = workload(conversations)
    n = conversations * SEGMENTS_PER_CONVERSATION
    rates = timing_kernels(w)
    slow = reference(w, 2_000)
    print(f"workload: {n:,} segments in {conversations:,} conversations (one core)")
    verdict = "met" if rates["timing"] >= TARGET else "NOT met"
    print(f"timing_signals:          {rates['timing'] / 1e6:8.2f} M segments/s "
          f"(target >= {TARGET / 1e6:.0f} M/s: {verdict})")  # fmt: skip
    print(f"validate_segments:       {rates['validate'] / 1e6:8.2f} M segments/s")
    print(f"whole timing path:       {rates['path'] / 1e6:8.2f} M segments/s "
          "(validate + timing + sentiment by quarter + talk speed)")  # fmt: skip
    print(f"ordering shuffled input: {rates['order'] / 1e6:8.2f} M segments/s (segment_order)")
    print(f"slow reference:          {slow / 1e6:8.4f} M segments/s; "
          f"timing_signals is {rates['timing'] / slow:,.0f}x faster")  # fmt: skip
    phrases = phrase_matching()
    print(f"phrase matching ({phrases['phrases']:.0f} phrases, every list in one pass): "
          f"{phrases['turns']:,.0f} turns/s, {phrases['words'] / 1e6:.2f} M words/s; "
          f"one regex per phrase: {phrases['baseline_turns']:,.0f} turns/s "
          f"({phrases['turns'] / phrases['baseline_turns']:.1f}x)")  # fmt: skip
    print(f"phrase matching with 2,000 phrases: {phrases['turns_2000_phrases']:,.0f} turns/s")
    print(f"redaction: {phrases['redaction_chars'] / 1e6:.2f} M characters/s")
    print(
        f"streaming analyzer (OTLP logs in, protobuf decode included): {streaming():,.0f} records/s"
    )


if __name__ == "__main__":
    main()
