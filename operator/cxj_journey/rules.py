"""The CRD's CEL rules, evaluated locally.

Each x-kubernetes-validations rule in crds/ has a Python twin here, keyed by the rule's
message, so `cxj validate` says exactly what the apiserver says. A unit test fails when a
rule in the CRD has no twin (or a twin has no rule), and the parity test against a real
apiserver proves that both reject the same documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from cxj_journey.durations import parse_duration

Predicate = Callable[[Any], bool]

_VARIABLE = re.compile(r"[$][{][A-Za-z_][A-Za-z0-9_]*[}]")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_STEP_KINDS = ("dns", "tcp", "tls", "http", "websocket", "grpcHealth", "voicePath", "sip", "wait")
_SINK_KINDS = ("alertmanager", "pagerduty", "slack", "cloudevents")


def _references_resolve(
    steps: list[dict[str, Any]], texts: Callable[[dict[str, Any]], Iterator[str]]
) -> bool:
    """Whether every ${name} in a step's texts is a variable an earlier step extracts.

    Counted the way the CEL rule counts (it cannot loop over matches within its cost
    budget): the references found must equal the occurrences of earlier variables.
    """
    for index, step in enumerate(steps):
        earlier = [e["name"] for prior in steps[:index] for e in prior.get("extract", [])]
        for text in texts(step):
            found = len(_VARIABLE.findall(text))
            resolved = sum(text.count(f"${{{name}}}") for name in earlier)
            if found != resolved:
                return False
    return True


def _extracted_once(steps: list[dict[str, Any]]) -> bool:
    names = [e["name"] for step in steps for e in step.get("extract", [])]
    return len(names) == len(set(names))


def _http_url(step: dict[str, Any]) -> Iterator[str]:
    if "http" in step:
        yield step["http"]["url"]


def _http_body(step: dict[str, Any]) -> Iterator[str]:
    if "http" in step and "body" in step["http"]:
        yield step["http"]["body"]


def _http_headers(step: dict[str, Any]) -> Iterator[str]:
    for header in step.get("http", {}).get("headers", []):
        if "value" in header:
            yield header["value"]


def _websocket_sends(step: dict[str, Any]) -> Iterator[str]:
    for exchange in step.get("websocket", {}).get("exchanges", []):
        if "send" in exchange:
            yield exchange["send"]


def _one_of(node: dict[str, Any], keys: tuple[str, ...]) -> bool:
    return sum(key in node for key in keys) == 1


def _timeslice_fits(spec: dict[str, Any]) -> bool:
    slo = spec.get("slo", {})
    if "timeslice" not in slo:
        return True
    return parse_duration(slo["timeslice"]) >= parse_duration(spec["interval"])


def _step_timeouts_fit(spec: dict[str, Any]) -> bool:
    interval = parse_duration(spec["interval"])
    return all(
        "timeout" not in s or parse_duration(s["timeout"]) <= interval for s in spec["steps"]
    )


def _unique(items: list[dict[str, Any]], key: str) -> bool:
    values = [item[key] for item in items]
    return len(values) == len(set(values))


# Constructs RE2 (the apiserver's CEL) refuses although Python accepts them: lookaround,
# backreferences, atomic groups and possessive quantifiers.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|\\[1-9]|[*+?}]\+")


def _portable_regex(pattern: str) -> bool:
    """Whether a CxConversationPolicy redaction pattern compiles in both RE2 and Python."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return _NOT_RE2.search(pattern) is None


RULES: dict[str, Predicate] = {
    "slo.timeslice is required when slo.budgeting is timeslices, e.g. timeslice: 5m": (
        lambda spec: (
            "slo" not in spec
            or spec["slo"].get("budgeting") != "timeslices"
            or "timeslice" in spec["slo"]
        )
    ),
    "slo.timeslice must be at least the journey interval, so every slice holds a run": (
        _timeslice_fits
    ),
    "a step timeout must not exceed the journey interval; raise interval or lower the step's timeout": (
        _step_timeouts_fit
    ),
    "interval must be between 1s and 24h": lambda value: 1.0 <= parse_duration(value) <= 86400.0,
    "step names must be unique within a journey": lambda steps: _unique(steps, "name"),
    "an extracted variable name may be extracted by one step only; rename one of them": (
        _extracted_once
    ),
    "http.url uses a ${variable} that no earlier step extracts; extract it in an earlier step or fix the name": (
        lambda steps: _references_resolve(steps, _http_url)
    ),
    "http.body uses a ${variable} that no earlier step extracts; extract it in an earlier step or fix the name": (
        lambda steps: _references_resolve(steps, _http_body)
    ),
    "http.headers uses a ${variable} that no earlier step extracts; extract it in an earlier step or fix the name": (
        lambda steps: _references_resolve(steps, _http_headers)
    ),
    "websocket.exchanges[].send uses a ${variable} that no earlier step extracts; extract it in an earlier step or fix the name": (
        lambda steps: _references_resolve(steps, _websocket_sends)
    ),
    "set exactly one of dns, tcp, tls, http, websocket, grpcHealth, voicePath, sip or wait": (
        lambda step: _one_of(step, _STEP_KINDS)
    ),
    "extract is supported only on http and websocket steps": (
        lambda step: "extract" not in step or "http" in step or "websocket" in step
    ),
    "extracted variable names must be unique within a step": (
        lambda step: _unique(step.get("extract", []), "name")
    ),
    "a websocket step extracts from message or jsonPath, not header": (
        lambda step: (
            "extract" not in step
            or "websocket" not in step
            or all(e["source"] != "header" for e in step["extract"])
        )
    ),
    "expression is required unless source is body": (
        lambda extract: extract["source"] == "body" or "expression" in extract
    ),
    "maxRedirects needs followRedirects: true": (
        lambda http: "maxRedirects" not in http or bool(http["followRedirects"])
    ),
    "a GET or HEAD request cannot have a body; use POST, PUT or PATCH": (
        lambda http: "body" not in http or http["method"] not in ("GET", "HEAD")
    ),
    "set exactly one of value or valueFrom on a header": (
        lambda header: ("value" in header) != ("valueFrom" in header)
    ),
    "property (the header name or JSON path) is required for header and jsonPath assertions": (
        lambda a: a["source"] not in ("header", "jsonPath") or "property" in a
    ),
    "value is required unless operator is exists": (
        lambda a: a["operator"] == "exists" or "value" in a
    ),
    "lessThan and greaterThan need a numeric value": (
        lambda a: (
            a["operator"] not in ("lessThan", "greaterThan")
            or bool(_NUMBER.match(a.get("value", "")))
        )
    ),
    "voicePath.duration must be between 1s and 60s": (
        lambda voice: 1.0 <= parse_duration(voice["duration"]) <= 60.0
    ),
    "holdFor applies only to mode: call": (
        lambda sip: sip["mode"] == "call" or "holdFor" not in sip
    ),
    "a toleration with operator Exists must not set value": (
        lambda t: t.get("operator") != "Exists" or "value" not in t
    ),
    "In and NotIn need values; Exists and DoesNotExist must not have them": (
        lambda expr: (expr["operator"] in ("In", "NotIn")) == bool(expr.get("values"))
    ),
    'slo.objective must be at least 50 and below 100 (100 leaves no error budget), e.g. "99.5"': (
        lambda value: 50.0 <= float(value) < 100.0
    ),
    "slo.sliceObjective must be above 0 and at most 100": lambda value: 0.0 < float(value) <= 100.0,
    "experience.weights must not all be zero": (
        lambda experience: "weights" not in experience or sum(experience["weights"].values()) > 0
    ),
    "set exactly one of alertmanager, pagerduty, slack or cloudevents on a sink": (
        lambda sink: _one_of(sink, _SINK_KINDS)
    ),
    # CxConversationPolicy
    "silence.threshold must be shorter than timing.idleTimeout, or every silence would end the conversation": (
        lambda spec: (
            "silence" not in spec
            or "timing" not in spec
            or parse_duration(spec["silence"]["threshold"])
            < parse_duration(spec["timing"]["idleTimeout"])
        )
    ),
    "a disclosure's within must not exceed timing.maxDuration; shorten within or raise maxDuration": (
        lambda spec: (
            "disclosures" not in spec
            or "timing" not in spec
            or all(
                "within" not in d
                or parse_duration(d["within"]) <= parse_duration(spec["timing"]["maxDuration"])
                for d in spec["disclosures"]
            )
        )
    ),
    "silence.threshold must be between 1s and 10m": lambda value: (
        1.0 <= parse_duration(value) <= 600.0
    ),
    "talkOver.minOverlap must be at most 10s": lambda value: parse_duration(value) <= 10.0,
    "transfer.maxWait must be between 1s and 1h": lambda value: (
        1.0 <= parse_duration(value) <= 3600.0
    ),
    "frustration.repetition.similarity must be above 0 and at most 1": (
        lambda value: 0.0 < float(value) <= 1.0
    ),
    "frustration.negativityDrop must be above 0 and at most 2": (
        lambda value: 0.0 < float(value) <= 2.0
    ),
    "disclosure names must be unique": lambda disclosures: _unique(disclosures, "name"),
    "a disclosure's within must be at least 1s": lambda value: parse_duration(value) >= 1.0,
    "repeatContact.window must be between 1h and 2160h (90 days)": (
        lambda value: 3600.0 <= parse_duration(value) <= 2160 * 3600.0
    ),
    "timing.idleTimeout must be between 10s and 24h": (
        lambda value: 10.0 <= parse_duration(value) <= 86400.0
    ),
    "timing.maxDuration must be between 1m and 48h": (
        lambda value: 60.0 <= parse_duration(value) <= 48 * 3600.0
    ),
    "textExport: raw needs rawTextApproval, naming who approved exporting unredacted text": (
        lambda redaction: (
            redaction.get("textExport") != "raw" or bool(redaction.get("rawTextApproval"))
        )
    ),
    "redaction pattern names must be unique": lambda patterns: _unique(patterns, "name"),
    "regex must be a regular expression in the syntax common to RE2 and Python (no lookaround, no backreferences)": (
        lambda pattern: _portable_regex(pattern["regex"])
    ),
    'an SLI objective must be at least 50 and below 100 (100 leaves no error budget), e.g. "95"': (
        lambda value: 50.0 <= float(value) < 100.0
    ),
}
