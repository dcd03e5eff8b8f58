"""The live terminal view of `cxj run`: one line per journey, redrawn every second (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_BANDS = ((85, "\033[32m"), (70, "\033[33m"), (0, "\033[31m"))
_RESET = "\033[0m"


def _fmt(value: Any, pattern: str, missing: str = "–") -> str:
    return missing if value is None else pattern.format(value)


def _score(value: float | None, color: bool) -> str:
    text = _fmt(value, "{:>5.0f}", "    –")
    if not color or value is None:
        return text
    code = next(code for floor, code in _BANDS if value >= floor)
    return f"{code}{text}{_RESET}"


def render_view(
    summaries: Sequence[dict[str, Any]], *, title: str, color: bool, footer: Sequence[str] = ()
) -> str:
    """Returns the view: score, Apdex, MOS, budget, fastest burn, alert, cause and failing step."""
    header = (
        f"{'JOURNEY':<28} {'SCORE':>5} {'APDEX':>12} {'MOS out/in':>11} {'BUDGET':>8} "
        f"{'BURN':>12} {'ALERT':<7} {'CAUSE':<10} FAILING STEP"
    )
    lines = [title, "", header]
    for s in summaries:
        mos = s.get("mos") or {}
        mos_text = (
            f"{_fmt(mos.get('outbound'), '{:.2f}')}/{_fmt(mos.get('inbound'), '{:.2f}')}"
            if mos
            else "–"
        )
        apdex = _fmt(s.get("apdex"), "{:.2f}")
        apdex_text = f"{apdex} [{s.get('apdexThreshold', 0):g}]"
        burn = s.get("fastestBurn") or {}
        burn_text = f"{burn['rate']:.1f}× {burn['window']}" if burn.get("rate") else "–"
        budget = _fmt(
            None if s.get("budgetRemaining") is None else s["budgetRemaining"] * 100, "{:.1f}%"
        )
        alert = ",".join(s.get("firing") or []) or "ok"
        if color and s.get("firing"):
            alert = f"\033[31m{alert:<7}{_RESET}"
        cause = s.get("suspectedLayer") or "none"
        lines.append(
            f"{s['namespace'] + '/' + s['name']:<28.28} {_score(s.get('score'), color)} "
            f"{apdex_text:>12} {mos_text:>11} {budget:>8} {burn_text:>12} {alert:<7} "
            f"{cause:<10} {s.get('failingStep') or ''}"
        )
    if not summaries:
        lines.append("waiting for the first runs…")
    lines.extend(["", *footer])
    return "\n".join(lines)
