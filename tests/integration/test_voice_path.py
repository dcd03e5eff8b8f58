"""The voice path end to end on loopback: STAMP sender against the real (impairing) reflector.

Tolerances (docs/voice.md, "Measured tolerances") come from the statistics of a 300-packet
stream: a uniform hold of 40 +/- 22.5 ms has a sample-mean standard deviation of 0.76 ms,
binomial loss at 2 % over 300 packets one of 0.81 points, and the mean |D| one of 0.8 ms;
bounds are 4 standard deviations plus what event-loop scheduling can add to a hold.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import statistics
import sys
import urllib.request
from pathlib import Path
from typing import Any, cast

import pytest
from tests.harness.processes import Process, free_port

from cxj_probe.voice import stamp
from cxj_probe.voice.emodel import CODECS, rate_codec
from cxj_probe.voice.impairment import Impairment, ImpairmentDraws
from cxj_probe.voice.reflector import Reflector, ReflectorCounters
from cxj_probe.voice.sender import VoicePathError, VoicePathResult, measure_voice_path

pytestmark = pytest.mark.timeout(120)

SEED = 8762
PACKETS = 300  # 6 s at G.711's 20 ms


async def _measure_against(
    impairment: Impairment, **options: Any
) -> tuple[VoicePathResult, ReflectorCounters]:
    async with Reflector("127.0.0.1", 0, impairment) as reflector:
        host, port = reflector.address
        result = await measure_voice_path(f"{host}:{port}", **options)
        return result, reflector.counters


def _drawn_holds_ms(impairment: Impairment, packets: int) -> dict[int, float]:
    """The hold the seeded reflector draws for each reflected packet it does not drop."""
    draws = ImpairmentDraws(impairment)
    holds = {}
    for sequence in range(packets):
        if not draws.dropped():
            holds[sequence] = draws.hold_s() * 1000
    return holds


def _mean_variation_ms(holds: dict[int, float], interval_ms: float) -> float:
    """Mean |D| between consecutive arrivals had every packet left exactly on time."""
    arrivals = sorted(holds, key=lambda sequence: sequence * interval_ms + holds[sequence])
    return statistics.fmean(abs(holds[b] - holds[a]) for a, b in itertools.pairwise(arrivals))


def test_injected_delay_jitter_and_loss_are_measured_on_the_inbound_direction() -> None:
    impairment = Impairment(delay_ms=40, jitter_ms=15, loss_pct=2, seed=SEED)
    result, counters = asyncio.run(
        _measure_against(
            impairment, codec="g711", duration_s=PACKETS * 0.02, jitter_buffer_ms=80, timeout_s=2
        )
    )
    inbound, outbound = result.inbound, result.outbound

    assert result.packets_sent == PACKETS
    assert result.unresolved <= 3
    # Loss: every packet the reflector dropped shows as inbound loss, none outbound.
    assert inbound.lost == counters.dropped
    assert inbound.loss_ratio == pytest.approx(0.02, abs=0.032)
    assert outbound.lost == 0
    assert 1.0 <= inbound.burst_ratio < 2.0
    assert inbound.late == 0  # an 80 ms buffer absorbs the 45 ms spread
    # Delay: the holds average 40 ms; the seeded draws say exactly what was held, and the
    # reflector reports how late its event loop sent them (timer granularity, CPU load).
    holds = _drawn_holds_ms(impairment, inbound.packets)
    assert len(holds) == inbound.packets - inbound.lost
    overrun = counters.hold_overrun_ms / counters.reflected
    error = inbound.one_way_delay_ms - (statistics.fmean(holds.values()) + overrun)
    expected_variation = _mean_variation_ms(holds, 20)
    print(f"mean hold drawn {statistics.fmean(holds.values()):.3f} ms, sent {overrun:.3f} ms "
          f"late on average, delay measurement error {error:.3f} ms; mean |D| drawn "
          f"{expected_variation:.2f} ms; inbound mean {inbound.one_way_delay_ms:.2f} "
          f"ms, mean |D| {inbound.delay_variation_ms:.2f} ms, RFC 3550 J {inbound.jitter_ms:.2f} "
          f"ms, loss {inbound.loss_ratio:.4f} ({inbound.lost}), BurstR {inbound.burst_ratio:.2f}, "
          f"reordered {inbound.reordered}; R/MOS in {inbound.r:.2f}/{inbound.mos:.2f}, "
          f"out {outbound.r:.2f}/{outbound.mos:.2f}; rtt {result.rtt_ms:.2f} ms")  # fmt: skip
    assert -0.2 <= error <= 1.0
    assert inbound.one_way_delay_ms == pytest.approx(40, abs=3.2 + overrun)
    assert inbound.one_way_delay_min_ms >= 17.5 - 0.2
    # Jitter: mean |D| over the stream is tight; late sends can move each |D| by at most
    # twice the overrun. The RFC 3550 reading (about a 16-packet average) is noisy, so it
    # is only held to the right scale.
    slack = 0.5 + 2 * overrun
    assert inbound.delay_variation_ms == pytest.approx(expected_variation, abs=slack)
    assert inbound.delay_variation_ms == pytest.approx(15, abs=3.75 + slack)
    assert 7.5 <= inbound.jitter_ms <= 30 + slack
    assert inbound.reordered > 0  # a 45 ms spread at 20 ms spacing reorders packets
    # The outbound direction is clean loopback.
    assert outbound.one_way_delay_ms < 5
    assert outbound.jitter_ms < 2
    assert inbound.clock_synchronized
    assert outbound.clock_synchronized
    # MOS: the inbound rating is the E-model on what was measured, and it shows the damage.
    codec = CODECS["g711"]
    expected = rate_codec(
        codec,
        mouth_to_ear_delay_ms=inbound.one_way_delay_min_ms + 80 + codec.sender_delay_ms(),
        loss_pct=100 * inbound.effective_loss_ratio,
        burst_ratio=inbound.burst_ratio,
    )
    assert inbound.mouth_to_ear_delay_ms == pytest.approx(inbound.one_way_delay_min_ms + 100)
    assert inbound.r == pytest.approx(expected.r)
    assert inbound.mos == pytest.approx(expected.mos)
    assert inbound.mos < outbound.mos - 0.5
    assert result.rtt_ms == pytest.approx(
        inbound.one_way_delay_ms + outbound.one_way_delay_ms, abs=1.0
    )


def test_reflection_echoes_the_sender_and_reports_the_arrival_ttl() -> None:
    async def scenario() -> tuple[bytes, bytes, int]:
        async with Reflector("127.0.0.1", 0) as reflector:
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 17)
                sock.setblocking(False)
                sock.connect(reflector.address)
                estimate = stamp.ErrorEstimate.covering(0.001, synchronized=False)
                request = stamp.encode_sender_packet(
                    stamp.SenderPacket(41, 0xDEADBEEF00C0FFEE, estimate, stamp.extra_padding(172))
                )
                await loop.sock_sendall(sock, request)
                reply = await asyncio.wait_for(loop.sock_recv(sock, 2048), 5)
                return request, reply, reflector.counters.sessions

    request, reply, sessions = asyncio.run(scenario())
    packet = stamp.decode_reflector_packet(reply)
    assert len(reply) == len(request) == 172  # symmetric size, padding echoed
    assert packet.sequence == 0  # a new session starts at 0
    assert packet.sender_sequence == 41
    assert packet.sender_timestamp == 0xDEADBEEF00C0FFEE  # echoed bit for bit
    assert packet.sender_error_estimate == stamp.decode_sender_packet(request).error_estimate
    assert packet.sender_ttl == 17
    assert packet.extension == request[44:]
    assert packet.receive_timestamp_ns <= packet.timestamp_ns
    assert sessions == 1


@pytest.mark.parametrize("codec", ["g711", "g729a", "g723.1"])
def test_clean_path_gives_the_codecs_best_mos(codec: str) -> None:
    result, _ = asyncio.run(
        _measure_against(Impairment(), codec=codec, duration_s=1.2, jitter_buffer_ms=40)
    )
    chosen = CODECS[codec]
    best = rate_codec(chosen, mouth_to_ear_delay_ms=40 + chosen.sender_delay_ms())
    for direction in (result.outbound, result.inbound):
        assert direction.loss_ratio == 0
        assert direction.late == 0
        assert direction.mos == pytest.approx(best.mos, abs=0.01)
    assert result.packets_received == result.packets_sent
    assert result.packet_interval_ms == chosen.packet_interval_ms
    assert result.rtt_ms < 5


def test_unreachable_port_is_an_error_not_a_crash() -> None:
    port = free_port()
    with pytest.raises(VoicePathError) as failure:
        asyncio.run(measure_voice_path(f"127.0.0.1:{port}", duration_s=2, timeout_s=1))
    assert failure.value.error_type in {"connection_refused", "timeout"}
    assert str(port) in failure.value.message


def test_a_silent_peer_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        with pytest.raises(VoicePathError) as failure:
            asyncio.run(measure_voice_path(f"127.0.0.1:{port}", duration_s=5, timeout_s=0.5))
    assert failure.value.error_type == "timeout"
    assert "no reflected packet within 0.5 s" in failure.value.message


class _Nonsense(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.transport.sendto(b"not a STAMP packet", addr)


def test_a_peer_answering_nonsense_is_an_invalid_response() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Nonsense, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            await measure_voice_path(f"127.0.0.1:{port}", duration_s=0.5, timeout_s=0.5)
        finally:
            transport.close()

    with pytest.raises(VoicePathError) as failure:
        asyncio.run(scenario())
    assert failure.value.error_type == "invalid_response"
    assert "too short: 18 octets" in failure.value.message


def test_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    # The resolver is replaced so no query leaves the machine; the error path is the point.
    def no_such_name(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    with pytest.raises(VoicePathError) as failure:
        asyncio.run(measure_voice_path("reflector.example:862", duration_s=1))
    assert failure.value.error_type == "name_resolution"
    assert "reflector.example" in failure.value.message


_REFLECTOR_MAIN = (
    "import argparse, sys\n"
    "from cxj_probe.voice.cli import add_reflector_parser\n"
    "parser = argparse.ArgumentParser(prog='cxj')\n"
    "add_reflector_parser(parser.add_subparsers(required=True))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.run(args))\n"
)


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_impairment_changed_at_runtime_through_the_control_endpoint(tmp_path: Path) -> None:
    process = Process(
        "cxj-reflector",
        [sys.executable, "-c", _REFLECTOR_MAIN, "reflector", "--listen", "127.0.0.1:0",
         "--control", "127.0.0.1:0"],
        tmp_path,
    ).start()  # fmt: skip
    started = re.compile(r"on udp 127\.0\.0\.1:(\d+);.*control (http://127\.0\.0\.1:\d+)")
    found: list[re.Match[str]] = []

    def ready() -> bool:
        match = started.search(process.log_path.read_text())
        found.extend([match] if match else [])
        return match is not None

    try:
        process.wait_until(ready, timeout=30, what="listening")
        port, control = int(found[0].group(1)), found[0].group(2)
        target = f"127.0.0.1:{port}"
        clean = asyncio.run(measure_voice_path(target, duration_s=1.0))
        assert clean.inbound.one_way_delay_ms < 5
        assert clean.inbound.loss_ratio == 0

        wanted = {"delay_ms": 80, "jitter_ms": 0, "loss_pct": 10, "burst_length": None, "seed": 7}
        assert _http("PUT", f"{control}/impairment", wanted) == wanted
        assert _http("GET", f"{control}/impairment") == wanted
        before = _http("GET", f"{control}/counters")
        impaired = asyncio.run(
            measure_voice_path(target, duration_s=2.0, jitter_buffer_ms=40, timeout_s=2)
        )
        after = _http("GET", f"{control}/counters")
        assert impaired.inbound.one_way_delay_ms == pytest.approx(80, abs=1.0 + 10)
        assert impaired.inbound.one_way_delay_min_ms >= 79.8
        assert impaired.inbound.lost == after["dropped"] - before["dropped"] > 0
        assert impaired.outbound.lost == 0
        assert impaired.inbound.mos < clean.inbound.mos
        with pytest.raises(urllib.error.HTTPError) as refused:
            _http("PUT", f"{control}/impairment", {"jitter_ms": 10})
        assert refused.value.code == 400
        assert "delay_ms must be at least 15" in json.loads(refused.value.read())["error"]
    finally:
        process.stop()
    assert process.popen is not None
    assert process.popen.returncode == 0
