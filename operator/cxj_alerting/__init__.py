"""Incident delivery: burn-rate alerts to Alertmanager, PagerDuty, Slack and CloudEvents sinks.

`incident` turns successive evaluations into fire/resolve transitions, `payloads` renders
each sink's wire format, `sinks` picks a journey's destinations and their secrets, and
`delivery` sends them with bounded retries.
"""

from cxj_alerting.delivery import DeliveryCounters, DeliveryOutcome, Dispatcher, RetryPolicy
from cxj_alerting.incident import Evaluation, Incident, IncidentTracker, dedup_key
from cxj_alerting.sinks import SecretResolver, SecretUnavailable

__all__ = [
    "DeliveryCounters",
    "DeliveryOutcome",
    "Dispatcher",
    "Evaluation",
    "Incident",
    "IncidentTracker",
    "RetryPolicy",
    "SecretResolver",
    "SecretUnavailable",
    "dedup_key",
]
