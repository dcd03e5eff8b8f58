"""Deliberate impairment of a path: added delay, jitter and (bursty) loss, drawn per packet.

Pure: the reflector asks `ImpairmentDraws` whether to drop each packet and how long to hold
it. Jitter is a uniform spread around the delay, chosen so RFC 3550's jitter estimator reads
the injected value; bursty loss is a two-state Gilbert-Elliott chain (see docs/voice.md).
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Impairment:
    """What the reflector does to the inbound direction.

    Attributes:
        delay_ms: mean added one-way delay.
        jitter_ms: added delay variation: each packet is held delay_ms + U(-1.5j, +1.5j),
            independently, so E|X1 - X2| = j for two packets and RFC 3550's jitter tends
            to j (while packets keep their order; see docs/voice.md). Needs
            delay_ms >= 1.5 x jitter_ms so no hold is negative.
        loss_pct: long-run share of reflected packets dropped, in percent.
        burst_length: mean length of a run of drops. None: independent (random) drops.
            A number: a two-state Gilbert-Elliott chain (every packet in the bad state is
            dropped) whose bad state lasts this many packets on average.
        seed: seed for the random draws; None draws from the operating system.
    """

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss_pct: float = 0.0
    burst_length: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("delay_ms", "jitter_ms", "loss_pct", "burst_length"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                problems.append(f"{name}: must be a finite number >= 0, got {value}")
        if not problems:
            problems.extend(self._consistency_problems())
        if problems:
            raise ValueError("; ".join(problems))

    def _consistency_problems(self) -> list[str]:
        problems = []
        if self.delay_ms < 1.5 * self.jitter_ms:
            problems.append(
                f"jitter_ms: holds are delay_ms +/- 1.5 x jitter_ms, so delay_ms must be at "
                f"least {1.5 * self.jitter_ms:g} for jitter_ms {self.jitter_ms:g}; "
                f"got delay_ms {self.delay_ms:g}"
            )
        if self.loss_pct >= 100:
            problems.append(f"loss_pct: must be below 100, got {self.loss_pct:g}")
        if self.burst_length is not None:
            loss = self.loss_pct / 100
            if self.burst_length < 1:
                problems.append(
                    f"burst_length: a mean run of drops is at least 1 packet, "
                    f"got {self.burst_length:g}"
                )
            elif loss / (1 - loss) > self.burst_length:
                problems.append(
                    f"burst_length: with loss_pct {self.loss_pct:g} the mean run of drops "
                    f"must be at least {loss / (1 - loss):.3g}"
                )
        return problems

    def to_json(self) -> dict[str, Any]:
        """The impairment as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, document: object) -> Impairment:
        """Builds an impairment from a JSON object; omitted fields take their defaults.

        Raises:
            ValueError: naming an unknown field or a value of the wrong type.
        """
        if not isinstance(document, dict):
            raise ValueError("impairment: expected a JSON object")
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(document) - known)
        if unknown:
            raise ValueError(
                f"impairment: unknown field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        values: dict[str, Any] = {}
        for name, value in document.items():
            if name == "seed":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                    raise ValueError(f"seed: an integer or null, got {value!r}")
            elif (value is not None or name != "burst_length") and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{name}: a number, got {value!r}")
            values[name] = value
        return cls(**values)


class ImpairmentDraws:
    """The per-packet random decisions an impairment makes: drop it, and how long to hold it."""

    def __init__(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self._random = random.Random(impairment.seed)
        loss = impairment.loss_pct / 100
        if impairment.burst_length is None:
            self._leave_bad = 1.0
            self._enter_bad = loss
        else:
            # Stationary share of the bad state = enter / (enter + leave) = loss.
            self._leave_bad = 1 / impairment.burst_length
            self._enter_bad = loss * self._leave_bad / (1 - loss)
        self._bad = self._random.random() < loss

    def dropped(self) -> bool:
        """Advances the loss chain by one packet; True when this packet is dropped."""
        if self.impairment.burst_length is None:
            self._bad = self._random.random() < self._enter_bad
        elif self._bad:
            self._bad = self._random.random() >= self._leave_bad
        else:
            self._bad = self._random.random() < self._enter_bad
        return self._bad

    def hold_s(self) -> float:
        """How long to hold the next reflected packet before it goes out, in seconds."""
        spread = 1.5 * self.impairment.jitter_ms
        hold_ms = self.impairment.delay_ms + (
            self._random.uniform(-spread, spread) if spread else 0.0
        )
        return max(0.0, hold_ms) / 1000
