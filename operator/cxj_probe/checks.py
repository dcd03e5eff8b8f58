"""Assertions and variable extraction over responses: JSON paths, headers, text."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cxj_journey.model import Assertion, Extraction
from cxj_probe.steps.base import StepFailure

_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class PathNotFound(LookupError):
    """A JSON path that does not lead to a value."""


def json_path(document: Any, path: str) -> Any:
    """Returns the value at a simple JSON path such as $.agents[0].state or $['a b'].

    Raises:
        PathNotFound: when a member or index is missing.
        ValueError: when the path is not of that form.
    """
    if not path.startswith("$"):
        raise ValueError(f"a JSON path starts with $, got {path!r}")
    position, node = 1, document
    while position < len(path):
        match = _TOKEN.match(path, position)
        if match is None:
            raise ValueError(f"cannot read JSON path {path!r} at character {position}")
        member, index, quoted, double_quoted = match.groups()
        key = member or quoted or double_quoted
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                raise PathNotFound(path)
            node = node[int(index)]
        elif key is not None:
            if not isinstance(node, dict) or key not in node:
                raise PathNotFound(path)
            node = node[key]
        position = match.end()
    return node


def as_text(value: Any) -> str:
    """Renders a JSON value the way assertions compare it: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _less(actual: str, expected: str) -> bool:
    number = _number(actual)
    return number is not None and number < float(expected)


def _greater(actual: str, expected: str) -> bool:
    number = _number(actual)
    return number is not None and number > float(expected)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "equals": lambda actual, expected: actual == expected,
    "notEquals": lambda actual, expected: actual != expected,
    "contains": lambda actual, expected: expected in actual,
    "notContains": lambda actual, expected: expected not in actual,
    "matches": lambda actual, expected: re.search(expected, actual) is not None,
    "lessThan": _less,
    "greaterThan": _greater,
}


def compare(operator: str, actual: str | None, expected: str | None) -> bool:
    """Applies an assertion operator to an actual value (None when it does not exist)."""
    if operator == "exists":
        return actual is not None
    if actual is None or expected is None:
        return False
    return _OPERATORS[operator](actual, expected)


def lookup(
    source: str, prop: str | None, *, status: int | None, headers: Mapping[str, str], text: str
) -> str | None:
    """Returns the value an assertion or extraction reads from a response, None if absent."""
    if source == "status":
        return str(status) if status is not None else None
    if source == "header":
        wanted = (prop or "").lower()
        return next((v for k, v in headers.items() if k.lower() == wanted), None)
    if source in ("body", "message"):
        return text
    if source == "jsonPath":
        try:
            return as_text(json_path(json.loads(text), prop or "$"))
        except (PathNotFound, json.JSONDecodeError):
            return None
    raise ValueError(f"unknown source {source!r}")


def check(
    assertions: tuple[Assertion, ...], *, status: int | None, headers: Mapping[str, str], text: str
) -> None:
    """Raises StepFailure (error.type assertion) at the first assertion that does not hold."""
    for assertion in assertions:
        actual = lookup(
            assertion.source, assertion.property, status=status, headers=headers, text=text
        )
        if not compare(assertion.operator, actual, assertion.value):
            what = " ".join(p for p in (assertion.source, assertion.property) if p)
            expected = "" if assertion.operator == "exists" else f" {assertion.value!r}"
            shown = "nothing" if actual is None else repr(actual[:120])
            raise StepFailure("assertion", f"{what} {assertion.operator}{expected}: got {shown}")


def extract(
    extractions: tuple[Extraction, ...], *, headers: Mapping[str, str], text: str
) -> dict[str, str]:
    """Returns the variables a response yields.

    Raises:
        StepFailure: (error.type extraction) when a value is not in the response.
    """
    values: dict[str, str] = {}
    for item in extractions:
        value: str | None
        if item.source == "regex":
            match = re.search(item.expression or "", text)
            value = (match.group(1) if match.groups() else match.group(0)) if match else None
        else:
            value = lookup(item.source, item.expression, status=None, headers=headers, text=text)
        if value is None:
            raise StepFailure(
                "extraction",
                f"{item.name}: {item.source} {item.expression or ''} not found in the response",
            )
        values[item.name] = value
    return values
