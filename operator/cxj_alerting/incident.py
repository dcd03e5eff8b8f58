"""Incidents, and the tracker that turns successive burn-rate evaluations into transitions.

Pure: no clock, no I/O. The caller passes the evaluation time; the tracker remembers which
journey severities are firing and emits a fire the moment one starts, a resolve the moment it
clears, and (optionally) a refresh while it keeps firing, for sinks that expire alerts unless
they are re-sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cxj_journey.model import Journey

SEVERITIES = ("page", "ticket")
LAYERS = ("endpoint", "network", "platform", "dependency")
FIRING = "firing"
RESOLVED = "resolved"
# How often a still-firing incident is re-sent to sinks that expire alerts (Alertmanager).
DEFAULT_REFRESH_S = 120.0

_WINDOW = re.compile(r"([0-9]+)(s|m|h|d)")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation of a journey found: which severities fire, and why.

    `firing` maps page/ticket to whether that severity's burn-rate alert fires now; a missing
    severity counts as not firing. Empty strings count as unknown, like None.
    """

    firing: Mapping[str, bool]
    burn_rates: Mapping[str, float] = field(default_factory=dict)
    locations: tuple[str, ...] = ()
    suspected_layer: str | None = None
    failing_step: str | None = None
    example_trace_id: str | None = None


@dataclass(frozen=True)
class Incident:
    """One notice about a journey's burn-rate alert: it fired, is still firing, or resolved.

    `dedup_key` depends only on the journey and the severity, so every notice about the same
    alert updates one incident at the sink instead of opening another.
    """

    journey: str
    namespace: str
    locations: tuple[str, ...]
    severity: str  # page | ticket
    state: str  # firing | resolved
    burn_rates: dict[str, float] = field(hash=False)  # by window name, finite values only
    suspected_layer: str | None
    failing_step: str | None
    example_trace_id: str | None
    runbook_url: str | None
    summary: str
    started_at: datetime  # when the alert started firing
    dedup_key: str
    observed_at: datetime  # when this notice was produced
    ended_at: datetime | None = None  # set on resolved notices
    refresh: bool = False  # a re-send of a still-firing incident, not a transition

    @property
    def fastest_burn(self) -> tuple[str, float] | None:
        """The window burning fastest and its rate (the shorter window on a tie); None if none."""
        if not self.burn_rates:
            return None
        window = max(self.burn_rates, key=lambda w: (self.burn_rates[w], -window_seconds(w)))
        return window, self.burn_rates[window]


def dedup_key(namespace: str, journey: str, severity: str) -> str:
    """The stable key of a journey's alert at one severity, e.g. cxj/contact/voice-call/page."""
    return f"cxj/{namespace}/{journey}/{severity}"


def window_seconds(window: str) -> float:
    """Seconds in a window name such as 5m or 3d; infinity for a name that is not one."""
    parts = _WINDOW.findall(window)
    if not parts or "".join(n + u for n, u in parts) != window:
        return math.inf
    return float(sum(int(n) * _UNIT_S[u] for n, u in parts))


class IncidentTracker:
    """Remembers which journey severities fire and emits each flip exactly once.

    A fire is emitted when a severity starts firing, a resolve only after a fire, when it
    stops. While it keeps firing, a refresh notice (same key, `refresh=True`) is emitted at
    most every `refresh_s` seconds; pass None to never refresh.
    """

    def __init__(self, refresh_s: float | None = DEFAULT_REFRESH_S) -> None:
        if refresh_s is not None and not refresh_s > 0:
            raise ValueError(f"refresh_s: must be above 0 s or None, got {refresh_s}")
        self._refresh = None if refresh_s is None else timedelta(seconds=refresh_s)
        self._open: dict[tuple[str, str, str], Incident] = {}
        self._last_notice: dict[tuple[str, str, str], datetime] = {}

    def observe(self, journey: Journey, evaluation: Evaluation, now: datetime) -> list[Incident]:
        """Returns the notices this evaluation causes: fires, refreshes and resolves.

        Raises:
            ValueError: naming the field, for a naive `now`, an unknown severity or layer.
        """
        _check_evaluation(evaluation, now)
        notices = []
        for severity in SEVERITIES:
            key = (journey.namespace, journey.name, severity)
            firing = bool(evaluation.firing.get(severity, False))
            current = self._open.get(key)
            if firing and current is None:
                fired = _fired(journey, severity, evaluation, now)
                self._open[key] = fired
                self._last_notice[key] = now
                notices.append(fired)
            elif firing and current is not None:
                updated = _updated(current, evaluation, now)
                self._open[key] = updated
                if self._refresh is not None and now - self._last_notice[key] >= self._refresh:
                    self._last_notice[key] = now
                    notices.append(replace(updated, refresh=True))
            elif current is not None:
                notices.append(_resolved(current, evaluation, now))
                del self._open[key], self._last_notice[key]
        return notices

    def forget(self, namespace: str, journey: str, now: datetime) -> list[Incident]:
        """Drops a deleted journey; returns resolves for its incidents that were firing."""
        if now.tzinfo is None:
            raise ValueError("now: must be timezone-aware (UTC), got a naive datetime")
        cleared = Evaluation(firing={})
        notices = []
        for severity in SEVERITIES:
            key = (namespace, journey, severity)
            current = self._open.pop(key, None)
            if current is not None:
                del self._last_notice[key]
                notices.append(_resolved(current, cleared, now))
        return notices

    def open_incidents(self) -> tuple[Incident, ...]:
        """The incidents firing now, in the order they fired."""
        return tuple(self._open.values())


def _check_evaluation(evaluation: Evaluation, now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware (UTC), got a naive datetime")
    unknown = sorted(set(evaluation.firing) - set(SEVERITIES))
    if unknown:
        raise ValueError(f"firing: severities are page and ticket, got {', '.join(unknown)}")
    if evaluation.suspected_layer and evaluation.suspected_layer not in LAYERS:
        raise ValueError(
            f"suspected_layer: must be one of {', '.join(LAYERS)}, "
            f"got {evaluation.suspected_layer!r}"
        )


def _finite(rates: Mapping[str, float]) -> dict[str, float]:
    # JSON has no NaN or infinity, and a window without data says nothing about the burn.
    return {w: float(r) for w, r in rates.items() if math.isfinite(r)}


def _fired(journey: Journey, severity: str, evaluation: Evaluation, now: datetime) -> Incident:
    locations = evaluation.locations or tuple(loc.name for loc in journey.locations)
    incident = Incident(
        journey=journey.name,
        namespace=journey.namespace,
        locations=locations,
        severity=severity,
        state=FIRING,
        burn_rates=_finite(evaluation.burn_rates),
        suspected_layer=evaluation.suspected_layer or None,
        failing_step=evaluation.failing_step or None,
        example_trace_id=evaluation.example_trace_id or None,
        runbook_url=journey.alerting.runbook_url,
        summary="",
        started_at=now,
        dedup_key=dedup_key(journey.namespace, journey.name, severity),
        observed_at=now,
    )
    return replace(incident, summary=firing_summary(incident))


def _updated(current: Incident, evaluation: Evaluation, now: datetime) -> Incident:
    # Newer details win; a detail the evaluation no longer knows keeps its last known value.
    updated = replace(
        current,
        locations=evaluation.locations or current.locations,
        burn_rates=_finite(evaluation.burn_rates) or current.burn_rates,
        suspected_layer=evaluation.suspected_layer or current.suspected_layer,
        failing_step=evaluation.failing_step or current.failing_step,
        example_trace_id=evaluation.example_trace_id or current.example_trace_id,
        observed_at=now,
        refresh=False,
    )
    return replace(updated, summary=firing_summary(updated))


def _resolved(current: Incident, evaluation: Evaluation, now: datetime) -> Incident:
    # The cause fields keep what was wrong; the burn rates say how things stand now.
    resolved = replace(
        current,
        state=RESOLVED,
        burn_rates=_finite(evaluation.burn_rates) or current.burn_rates,
        observed_at=now,
        ended_at=now,
        refresh=False,
    )
    return replace(resolved, summary=resolved_summary(resolved))


def firing_summary(incident: Incident) -> str:
    """One line saying which journey burns how fast, where, and what is suspected."""
    text = f"{incident.namespace}/{incident.journey}: {incident.severity} burn-rate alert firing"
    fastest = incident.fastest_burn
    if fastest is not None:
        window, rate = fastest
        text += f", error budget burning {rate:.1f}x over {window}"
    if incident.suspected_layer:
        text += f"; suspected {incident.suspected_layer} layer"
    if incident.failing_step:
        text += f", failing step {incident.failing_step}"
    if incident.locations:
        text += f"; from {', '.join(incident.locations)}"
    return text


def resolved_summary(incident: Incident) -> str:
    """One line saying which alert cleared and how long it fired."""
    ended = incident.ended_at or incident.observed_at
    return (
        f"{incident.namespace}/{incident.journey}: {incident.severity} burn-rate alert "
        f"resolved after {_duration_text(ended - incident.started_at)}"
    )


def _duration_text(elapsed: timedelta) -> str:
    seconds = max(0, int(elapsed.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"
