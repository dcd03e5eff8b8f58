"""`cxj demo`: a simulated contact center, the example journeys, and a scripted story.

The story: everything is healthy; then the voice path gains jitter and loss while HTTP
and ping stay fast (the network dashboard stays green), MOS falls, the voice journey's
budget burns and a page fires with cause network; the path recovers and the page
resolves; then the agent desktop's server slows down and it is charged to the platform.
Time is compressed (60× by default) so the SLO windows of hours play out in minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cxj_journey.model import Journey, parse_journey
from cxj_standalone.stack import StackPorts

EXAMPLES = ("voice-call", "chat-escalation", "agent-desktop", "bot-handoff")
DEMO_INTERVAL = "3s"


@dataclass(frozen=True)
class Phase:
    """One act of the scenario: when it starts (share of the run) and what it does."""

    at: float  # 0..1 of the scenario's duration
    note: str
    action: str  # healthy | voice | desktop


SCENARIOS: dict[str, tuple[Phase, ...]] = {
    "green-network": (
        Phase(0.0, "All journeys healthy. The network dashboard is green.", "healthy"),
        Phase(
            0.25,
            "The voice path gains 30 ms jitter and 8 % bursty loss. HTTP and ping to "
            "the SBC stay fast: every interface still looks green.",
            "voice",
        ),
        Phase(0.58, "The voice path is repaired.", "healthy"),
        Phase(
            0.70, "The agent desktop's server slows to 2.5 s per page: a platform fault.", "desktop"
        ),
        Phase(0.92, "The agent desktop recovers.", "healthy"),
    ),
    "voice": (
        Phase(0.0, "All journeys healthy.", "healthy"),
        Phase(0.3, "The voice path gains jitter and loss.", "voice"),
        Phase(0.8, "The voice path is repaired.", "healthy"),
    ),
}


def free_stack_ports() -> StackPorts:
    """Six distinct loopback ports free right now, TCP or UDP as each service needs."""
    kinds = (socket.SOCK_STREAM,) * 3 + (socket.SOCK_DGRAM,) * 3  # StackPorts' field order
    with contextlib.ExitStack() as held:  # held open together, so no port is handed out twice
        ports: list[int] = []
        for kind in kinds:
            for _ in range(100):  # a TCP and a UDP port may share a number; StackPorts refuses
                sock = held.enter_context(socket.socket(socket.AF_INET, kind))
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
                if port not in ports:
                    ports.append(port)
                    break
    return StackPorts(*ports)


def examples_dir() -> Path:
    """The example journeys shipped with the CRD."""
    from cxj_journey.schema import crds_dir

    return crds_dir() / "examples"


def demo_journeys(sink_url: str, ports: dict[int, int] | None = None) -> list[Journey]:
    """The four example journeys, tuned for a short demo run against the simulated stack.

    Intervals shrink to 3 s, timeouts to fit them, the voice stream to 1.5 s; alert sinks
    point at the demo's local incident receiver. `ports` maps each example port to another
    (tests run the stack on free ports).
    """
    journeys = []
    for name in EXAMPLES:
        document = yaml.safe_load((examples_dir() / f"{name}.yaml").read_text())
        document = _retarget(document, ports or {})
        spec = document["spec"]
        spec["interval"] = DEMO_INTERVAL
        for step in spec["steps"]:
            step["timeout"] = "2900ms"
            if "voicePath" in step:
                step["voicePath"]["duration"] = "1500ms"
            if "sip" in step and "holdFor" in step["sip"]:
                step["sip"]["holdFor"] = "300ms"
            if "websocket" in step:
                for exchange in step["websocket"]["exchanges"]:
                    exchange["timeout"] = "2500ms"
        spec.get("slo", {}).pop("timeslice", None)
        if spec.get("slo", {}).get("budgeting") == "timeslices":
            spec["slo"]["budgeting"] = "occurrences"
        spec["alerting"] = {
            "runbookUrl": "https://runbooks.example.com/cx/" + document["metadata"]["name"],
            "sinks": [{"name": "demo-receiver", "alertmanager": {"url": sink_url}}],
        }
        journeys.append(parse_journey(copy.deepcopy(document)))
    return journeys


def _retarget(node: Any, ports: dict[int, int]) -> Any:
    """Maps the examples' ports to the stack's, in host:port text and in port fields."""
    if isinstance(node, dict):
        return {
            k: (ports.get(v, v) if k == "port" and isinstance(v, int) else _retarget(v, ports))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_retarget(item, ports) for item in node]
    if isinstance(node, str):
        for old, new in ports.items():
            node = node.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    return node


def demo_secrets(name: str, key: str) -> str:
    """Credentials the example journeys reference, with demo values."""
    if (name, key) == ("desktop-probe-credentials", "authorization"):
        return "Basic ZGVtby1hZ2VudDpkZW1v"
    return f"demo-{name}-{key}"


async def play(
    stack: Any,
    scenario: tuple[Phase, ...],
    duration_s: float,
    on_phase: Callable[[Phase], None],
    stop: asyncio.Event,
) -> None:
    """Plays the scenario's phases against the stack's fault controls.

    `on_phase` hears of each phase once its fault is in force.
    """
    from cxj_probe.voice.reflector import Impairment

    loop = asyncio.get_running_loop()
    start = loop.time()
    for phase in scenario:
        delay = start + phase.at * duration_s - loop.time()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
                return
            except TimeoutError:
                pass
        if phase.action == "healthy":
            stack.clear_faults()
        elif phase.action == "voice":
            stack.set_voice_impairment(
                Impairment(delay_ms=60.0, jitter_ms=30.0, loss_pct=8.0, burst_length=3.0, seed=3550)
            )
        elif phase.action == "desktop":
            stack.set_desktop_delay(2.5)
        on_phase(phase)
