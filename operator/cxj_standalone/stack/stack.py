"""The simulated contact center `cxj demo` runs on loopback, with faults to inject on cue.

One object starts every service the example journeys call (agent desktop, chat and bot,
the bot's gRPC health, a STAMP reflector for the voice path, a SIP endpoint and a DNS
server for loopback names), and exposes the faults the demo tells its story with: a
degraded voice path (network), a slow desktop server (platform) and a slow CRM
(dependency).
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields
from typing import Protocol

from cxj_probe.voice.reflector import Impairment, Reflector
from cxj_standalone.stack.bot_health import BOT_SERVICE, BotHealthServer
from cxj_standalone.stack.chat import ChatService
from cxj_standalone.stack.desktop import AgentDesktop, DesktopFaults
from cxj_standalone.stack.dns_server import LoopbackDnsServer
from cxj_standalone.stack.sip_endpoint import RING_MS, SIPP, SipEndpoint

HOST = "127.0.0.1"
AGENT_ANSWER_S = 1.0
MAX_DELAY_S = 600.0


@dataclass(frozen=True)
class StackPorts:
    """The loopback ports of each simulated service; the defaults are the examples' ports.

    Attributes:
        desktop: agent desktop HTTP (TCP).
        chat: chat widget, REST API and WebSocket (TCP).
        bot_health: the bot's gRPC health service (TCP).
        reflector: STAMP reflector for the voice path (UDP).
        sip: SIP endpoint (UDP).
        dns: DNS server for localhost names (UDP).
    """

    desktop: int = 18080
    chat: int = 18081
    bot_health: int = 18083
    reflector: int = 18862
    sip: int = 15060
    dns: int = 15353

    def __post_init__(self) -> None:
        problems = [
            f"{item.name}: a port is 1-65535, got {getattr(self, item.name)}"
            for item in fields(self)
            if not 1 <= getattr(self, item.name) <= 65535
        ]
        if len(set(astuple(self))) != len(fields(self)):
            problems.append(f"ports must differ from one another, got {astuple(self)}")
        if problems:
            raise ValueError("; ".join(problems))

    def replacements(self) -> dict[int, int]:
        """Each example journey's port mapped to this stack's, to rewrite journeys with."""
        default = StackPorts()
        return {getattr(default, f.name): getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Endpoint:
    """One simulated service as `describe()` lists it."""

    name: str
    address: str
    serves: str
    status: str = "running"

    def __str__(self) -> str:
        state = "" if self.status == "running" else f"  [{self.status}]"
        return f"  {self.name:<14} {self.address:<28} {self.serves}{state}"


class _Service(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class ContactCenterStack:
    """The whole simulated contact center. Use `await start()` / `await stop()` or `async with`.

    Every service binds 127.0.0.1 only. Faults take effect on the next request or packet.
    """

    def __init__(
        self,
        ports: StackPorts | None = None,
        *,
        sipp: str = SIPP,
        agent_answer_s: float = AGENT_ANSWER_S,
    ) -> None:
        self.ports = ports or StackPorts()
        self._desktop_faults = DesktopFaults()
        self.desktop = AgentDesktop(HOST, self.ports.desktop, self._desktop_faults)
        self.chat = ChatService(HOST, self.ports.chat, agent_answer_s)
        self.bot_health = BotHealthServer(HOST, self.ports.bot_health)
        self.reflector = Reflector(HOST, self.ports.reflector)
        self.sip = SipEndpoint(HOST, self.ports.sip, sipp)
        self.dns = LoopbackDnsServer(HOST, self.ports.dns)
        self._started: list[_Service] = []

    async def start(self) -> None:
        """Starts every service; if one cannot start, stops the others and raises.

        A missing SIPp is not an error: the SIP endpoint reports it in `describe()`.

        Raises:
            OSError: when a port is taken (the message names the service and the port).
            RuntimeError: when SIPp exits or does not answer at start.
        """
        services: list[_Service] = [
            self.dns,
            self.reflector,
            self.bot_health,
            self.desktop.server,
            self.chat.server,
            self.sip,
        ]
        try:
            for service in services:
                await self._start(service)
                self._started.append(service)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, service: _Service) -> None:
        try:
            await service.start()
        except OSError as error:
            if service is not self.reflector:
                raise  # the other services name themselves and the port
            raise OSError(
                error.errno,
                f"voice path: cannot listen on udp {HOST}:{self.ports.reflector}: "
                f"{error.strerror or error}; free the port or choose another one",
            ) from error

    async def stop(self) -> None:
        """Stops every service that was started, the last started first."""
        while self._started:
            await self._started.pop().stop()

    async def __aenter__(self) -> ContactCenterStack:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def set_voice_impairment(self, impairment: Impairment) -> None:
        """Impairs the voice path (a network fault): delay, jitter and loss on reflections."""
        self.reflector.set_impairment(impairment)

    def set_desktop_delay(self, seconds: float) -> None:
        """Adds server think time to the desktop page and the CRM API (a platform fault).

        Raises:
            ValueError: unless 0 <= seconds <= 600.
        """
        self._desktop_faults.server_delay_s = _delay("set_desktop_delay", seconds)

    def set_crm_delay(self, seconds: float) -> None:
        """Slows the CRM lookup alone (a dependency fault).

        Raises:
            ValueError: unless 0 <= seconds <= 600.
        """
        self._desktop_faults.crm_delay_s = _delay("set_crm_delay", seconds)

    def clear_faults(self) -> None:
        """Removes every fault: the stack is healthy again."""
        self.reflector.set_impairment(Impairment())
        self._desktop_faults.server_delay_s = 0.0
        self._desktop_faults.crm_delay_s = 0.0

    def endpoints(self) -> tuple[Endpoint, ...]:
        """Every simulated service: where it listens and what it serves."""
        p = self.ports
        return (
            Endpoint(
                "agent desktop",
                f"http://{HOST}:{p.desktop}/",
                "sign-in page, /desktop (needs Authorization), /api/login, /api/crm/customers/<id>",
            ),
            Endpoint(
                "chat",
                f"http://{HOST}:{p.chat}/",
                f"/widget.js, /api/sessions, ws://{HOST}:{p.chat}/ws, /api/bot/messages, "
                "/api/handoff",
            ),
            Endpoint("bot health", f"grpc://{HOST}:{p.bot_health}", f"{BOT_SERVICE} SERVING"),
            Endpoint("voice path", f"udp://{HOST}:{p.reflector}", "STAMP session-reflector"),
            Endpoint(
                "sip",
                f"sip:{HOST}:{p.sip} (udp)",
                f"OPTIONS 200; calls answered after a {RING_MS} ms ring",
                self.sip.status,
            ),
            Endpoint("dns", f"udp://{HOST}:{p.dns}", "localhost and *.localhost"),
        )

    def fault_summary(self) -> str:
        """The faults in force, in words; `none` when healthy."""
        faults = []
        voice = self.reflector.impairment
        if voice != Impairment(seed=voice.seed):
            burst = f", bursts of {voice.burst_length:g}" if voice.burst_length else ""
            faults.append(
                f"voice path +{voice.delay_ms:g} ms ± {voice.jitter_ms:g} ms jitter, "
                f"{voice.loss_pct:g} % loss{burst} (network)"
            )
        if self._desktop_faults.server_delay_s:
            faults.append(f"desktop server +{self._desktop_faults.server_delay_s:g} s (platform)")
        if self._desktop_faults.crm_delay_s:
            faults.append(f"CRM +{self._desktop_faults.crm_delay_s:g} s (dependency)")
        return "; ".join(faults) or "none"

    def describe(self) -> str:
        """The endpoints and the faults in force, for a terminal."""
        lines = [f"simulated contact center on {HOST}:"]
        lines += [str(endpoint) for endpoint in self.endpoints()]
        lines.append(f"  faults: {self.fault_summary()}")
        return "\n".join(lines)


def _delay(what: str, seconds: float) -> float:
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_DELAY_S):
        raise ValueError(f"{what}: seconds must be between 0 and {MAX_DELAY_S:g}, got {seconds}")
    return float(seconds)
