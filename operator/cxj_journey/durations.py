"""Durations as the CRD writes them (Go/CEL style: 300ms, 1.5s, 1h30m) and SLO periods (30d)."""

import re

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ms|s|m|h))+$")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Returns the duration in seconds.

    Raises:
        ValueError: when the text is not a duration such as 250ms, 30s, 5m or 1h30m.
    """
    if not _WHOLE.match(text):
        raise ValueError(f"not a duration (use e.g. 250ms, 30s, 5m, 1h30m): {text!r}")
    return sum(float(n) * _SECONDS[unit] for n, unit in _PART.findall(text))


def parse_period_days(text: str) -> int:
    """Returns the number of days in an SLO period such as 30d.

    Raises:
        ValueError: when the text is not a whole number of days.
    """
    match = re.fullmatch(r"([1-9][0-9]?)d", text)
    if match is None:
        raise ValueError(f"not an SLO period (use whole days, e.g. 30d): {text!r}")
    return int(match.group(1))
