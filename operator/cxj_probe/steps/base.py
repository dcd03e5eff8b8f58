"""The contract between the run loop and the step executors, and what they share."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

AttributeValue = str | bool | int | float


class StepFailure(Exception):
    """A step failed in a way the user should see: a specific error.type and a message.

    error.type values are low-cardinality and documented in docs/telemetry.md, e.g.
    timeout, name_resolution, connection_refused, tls, http_status, assertion, protocol.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


@dataclass
class Phase:
    """A timed part of a step (dns, connect, tls, ttfb, transfer, or a kind's own)."""

    name: str
    start_ns: int
    end_ns: int


@dataclass
class StepOutcome:
    """What one step produced. The run loop turns it into spans and metrics.

    A failed step has error_type and error_message set; it may still carry the phases,
    attributes and measurements gathered before it failed.
    """

    start_ns: int
    end_ns: int
    error_type: str | None = None
    error_message: str | None = None
    phases: list[Phase] = field(default_factory=list)
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    measurements: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the step succeeded."""
        return self.error_type is None

    @property
    def duration_s(self) -> float:
        """The step's duration in seconds."""
        return (self.end_ns - self.start_ns) / 1e9


SecretResolver = Callable[[str, str], str]


@dataclass(frozen=True)
class StepContext:
    """What an executor may use besides its step: variables, secrets, propagation headers."""

    variables: Mapping[str, str]
    secrets: SecretResolver
    trace_headers: Mapping[str, str]  # W3C traceparent/tracestate to inject into requests
    timeout_s: float


def now_ns() -> int:
    """Wall-clock time in nanoseconds, the timestamps spans carry."""
    return time.time_ns()


_VARIABLE = re.compile(r"[$][{]([A-Za-z_][A-Za-z0-9_]*)[}]")


def render(template: str, variables: Mapping[str, str]) -> str:
    """Replaces ${name} with variables extracted by earlier steps.

    Raises:
        StepFailure: (error.type variable) when a variable was not extracted, e.g. because
            the earlier step's response lacked it.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise StepFailure("variable", f"${{{name}}} was not extracted by an earlier step")
        return variables[name]

    return _VARIABLE.sub(value, template)
