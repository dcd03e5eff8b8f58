"""IncidentTracker: one fire per rising edge, one resolve per falling edge, never otherwise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxj_alerting.incident import FIRING, RESOLVED, Evaluation, Incident, IncidentTracker
from cxj_journey.model import Journey, parse_journey

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


def journey(name: str = "voice-call", namespace: str = "contact") -> Journey:
    return parse_journey(
        {
            "apiVersion": "cxjourney.dev/v1alpha1",
            "kind": "CxJourney",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "type": "voice",
                "steps": [{"name": "dial-agent", "http": {"url": "https://pbx.example.com/"}}],
                "locations": [{"name": "eu-west"}, {"name": "us-east"}],
                "alerting": {"runbookUrl": "https://runbooks.example.com/voice"},
            },
        }
    )


def flips(notices: list[Incident]) -> list[str]:
    return [f"{n.severity}:{n.state}" for n in notices if not n.refresh]


# Each case: successive (page, ticket) evaluations → the transitions each one emits.
SEQUENCES = [
    pytest.param([(False, False)], [[]], id="quiet-emits-nothing"),
    pytest.param([(False, False), (False, False)], [[], []], id="no-resolve-without-fire"),
    pytest.param([(True, False)], [["page:firing"]], id="fire"),
    pytest.param(
        [(True, False), (True, False), (True, False)],
        [["page:firing"], [], []],
        id="no-duplicate-fire",
    ),
    pytest.param(
        [(True, False), (False, False), (False, False)],
        [["page:firing"], ["page:resolved"], []],
        id="resolve-once",
    ),
    pytest.param(
        [(True, False), (False, False), (True, False)],
        [["page:firing"], ["page:resolved"], ["page:firing"]],
        id="re-fire-after-resolve",
    ),
    pytest.param(
        [(True, True), (False, True), (False, False)],
        [["page:firing", "ticket:firing"], ["page:resolved"], ["ticket:resolved"]],
        id="severities-independent",
    ),
    pytest.param(
        [(False, True), (True, True), (True, False)],
        [["ticket:firing"], ["page:firing"], ["ticket:resolved"]],
        id="escalation-keeps-ticket-until-it-clears",
    ),
]


@pytest.mark.parametrize(("evaluations", "expected"), SEQUENCES)
def test_flip_semantics(evaluations: list[tuple[bool, bool]], expected: list[list[str]]) -> None:
    tracker = IncidentTracker(refresh_s=None)
    subject = journey()
    for minute, ((page, ticket), emitted) in enumerate(zip(evaluations, expected, strict=True)):
        now = T0 + timedelta(minutes=minute)
        notices = tracker.observe(subject, Evaluation({"page": page, "ticket": ticket}), now)
        assert flips(notices) == emitted, f"evaluation {minute}"


@given(st.lists(st.tuples(st.booleans(), st.booleans()), max_size=40))
def test_notices_alternate_fire_resolve_per_severity(evaluations: list[tuple[bool, bool]]) -> None:
    tracker = IncidentTracker(refresh_s=None)
    subject = journey()
    seen: dict[str, list[str]] = {"page": [], "ticket": []}
    for minute, (page, ticket) in enumerate(evaluations):
        now = T0 + timedelta(minutes=minute)
        for notice in tracker.observe(subject, Evaluation({"page": page, "ticket": ticket}), now):
            seen[notice.severity].append(notice.state)
    for index, severity in enumerate(("page", "ticket")):
        states = seen[severity]
        assert states == [FIRING, RESOLVED] * (len(states) // 2) + [FIRING] * (len(states) % 2)
        column = [e[index] for e in evaluations]
        rises = sum(
            now and not before for before, now in zip([False, *column][:-1], column, strict=True)
        )
        assert states.count(FIRING) == rises
        assert len(states) % 2 == int(bool(column) and column[-1])


def test_journeys_are_tracked_apart() -> None:
    tracker = IncidentTracker(refresh_s=None)
    a, b = journey("voice-call"), journey("chat", namespace="digital")
    assert flips(tracker.observe(a, Evaluation({"page": True}), T0)) == ["page:firing"]
    assert flips(tracker.observe(b, Evaluation({"page": True}), T0)) == ["page:firing"]
    [resolved] = tracker.observe(a, Evaluation({}), T0 + timedelta(minutes=1))
    assert (resolved.namespace, resolved.journey) == ("contact", "voice-call")
    assert [i.journey for i in tracker.open_incidents()] == ["chat"]


def test_refresh_repeats_a_firing_incident_at_most_every_refresh_interval() -> None:
    tracker = IncidentTracker(refresh_s=120)
    subject = journey()
    emitted = []
    for seconds in range(0, 600, 30):
        emitted += tracker.observe(
            subject, Evaluation({"page": True}), T0 + timedelta(seconds=seconds)
        )
    assert [n.refresh for n in emitted] == [False, True, True, True, True]
    assert [int((n.observed_at - T0).total_seconds()) for n in emitted] == [0, 120, 240, 360, 480]
    assert {n.started_at for n in emitted} == {T0}
    assert {n.dedup_key for n in emitted} == {"cxj/contact/voice-call/page"}


def test_details_follow_the_latest_evaluation_and_the_resolve_keeps_the_cause() -> None:
    tracker = IncidentTracker(refresh_s=60)
    subject = journey()
    first = Evaluation(
        {"page": True},
        burn_rates={"5m": 20.0, "1h": 15.0},
        suspected_layer="network",
        failing_step="dial-agent",
        example_trace_id="0af7651916cd43dd8448eb211c80319c",
    )
    later = Evaluation(
        {"page": True}, burn_rates={"5m": 30.0, "1h": 18.0}, suspected_layer="platform"
    )
    [fired] = tracker.observe(subject, first, T0)
    [refreshed] = tracker.observe(subject, later, T0 + timedelta(minutes=1))
    assert refreshed.burn_rates == {"5m": 30.0, "1h": 18.0}
    assert refreshed.suspected_layer == "platform"
    assert refreshed.failing_step == "dial-agent"  # not reported any more: last known value
    [resolved] = tracker.observe(
        subject, Evaluation({}, burn_rates={"5m": 0.2, "1h": 4.0}), T0 + timedelta(minutes=25)
    )
    assert resolved.state == RESOLVED
    assert resolved.started_at == fired.started_at == T0
    assert resolved.ended_at == T0 + timedelta(minutes=25)
    assert resolved.burn_rates == {"5m": 0.2, "1h": 4.0}
    assert (resolved.suspected_layer, resolved.failing_step) == ("platform", "dial-agent")
    assert "resolved after 25m00s" in resolved.summary


def test_summary_tells_journey_severity_burn_cause_and_locations() -> None:
    evaluation = Evaluation(
        {"ticket": True},
        burn_rates={"1d": 3.4, "2h": 3.4, "5m": math.nan},
        locations=("eu-west",),
        suspected_layer="dependency",
        failing_step="crm-lookup",
    )
    [fired] = IncidentTracker().observe(journey(), evaluation, T0)
    assert fired.summary == (
        "contact/voice-call: ticket burn-rate alert firing, error budget burning 3.4x over 2h; "
        "suspected dependency layer, failing step crm-lookup; from eu-west"
    )
    assert fired.burn_rates == {"1d": 3.4, "2h": 3.4}  # NaN has no JSON form and means no data
    assert fired.runbook_url == "https://runbooks.example.com/voice"


def test_locations_default_to_the_journeys_and_unknowns_are_none() -> None:
    [fired] = IncidentTracker().observe(
        journey(), Evaluation({"page": True}, example_trace_id="", failing_step=""), T0
    )
    assert fired.locations == ("eu-west", "us-east")
    assert (fired.example_trace_id, fired.failing_step, fired.suspected_layer) == (None, None, None)


def test_forget_resolves_whatever_a_deleted_journey_had_firing() -> None:
    tracker = IncidentTracker()
    subject = journey()
    tracker.observe(subject, Evaluation({"page": True, "ticket": True}), T0)
    resolved = tracker.forget("contact", "voice-call", T0 + timedelta(minutes=3))
    assert flips(resolved) == ["page:resolved", "ticket:resolved"]
    assert tracker.forget("contact", "voice-call", T0 + timedelta(minutes=4)) == []
    assert tracker.open_incidents() == ()


@pytest.mark.parametrize(
    ("evaluation", "now", "message"),
    [
        pytest.param(
            Evaluation({"page": True}),
            datetime(2025, 3, 1),
            "now: must be timezone-aware",
            id="naive-time",
        ),
        pytest.param(
            Evaluation({"critical": True}),
            T0,
            "firing: severities are page and ticket",
            id="unknown-severity",
        ),
        pytest.param(
            Evaluation({"page": True}, suspected_layer="dns"),
            T0,
            "suspected_layer: must be one of",
            id="unknown-layer",
        ),
    ],
)
def test_bad_evaluations_are_refused_with_the_field(
    evaluation: Evaluation, now: datetime, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        IncidentTracker().observe(journey(), evaluation, now)


def test_refresh_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="refresh_s: must be above 0 s"):
        IncidentTracker(refresh_s=0)
