"""Narrowband codecs with their G.113 Appendix I impairment values and their delays.

Ie and Bpl are G.113 Appendix I's provisional planning values (tabulated for G.711 with
10 ms packets, G.729A with 20 ms and G.723.1 with 30 ms; they are applied at any interval).
Frame and look-ahead are each codec's recommendation; the packet interval is the usual
default (RFC 3551: 20 ms, 30 ms for G.723.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Codec:
    """A narrowband codec as the E-model and the voice-path sender see it.

    Attributes:
        name: the name used on the command line and in journeys.
        description: what it is, for humans.
        ie: equipment impairment factor Ie (G.113 Appendix I).
        bpl: packet-loss robustness factor Bpl (G.113 Appendix I).
        bitrate_bps: codec bit rate, used to size test packets like real voice packets.
        frame_ms: duration of one codec frame (one sample for G.711).
        lookahead_ms: look-ahead the encoder waits for beyond its frame; for G.711 with
            Appendix I concealment, the concealment's 30-sample (3.75 ms) output delay.
        packet_interval_ms: default packetization interval (audio per packet).
    """

    name: str
    description: str
    ie: float
    bpl: float
    bitrate_bps: int
    frame_ms: float
    lookahead_ms: float
    packet_interval_ms: float

    @property
    def codec_delay_ms(self) -> float:
        """The codec's own algorithmic delay: one frame plus look-ahead."""
        return self.frame_ms + self.lookahead_ms

    def sender_delay_ms(self, packet_interval_ms: float | None = None) -> float:
        """Delay the codec side adds to every sample: the codec delay plus packet filling.

        A packet of N frames leaves only when its last frame is encoded, so the first
        sample waits the whole packet interval; adding the look-ahead gives
        ``packet interval + look-ahead`` (which equals frame + look-ahead at one frame per
        packet).
        """
        return self.interval_ms(packet_interval_ms) + self.lookahead_ms

    def interval_ms(self, packet_interval_ms: float | None = None) -> float:
        """Returns the packetization interval, checked to hold whole frames.

        Raises:
            ValueError: when the interval is not a positive whole number of frames.
        """
        interval = self.packet_interval_ms if packet_interval_ms is None else packet_interval_ms
        frames = interval / self.frame_ms
        if interval <= 0 or abs(frames - round(frames)) > 1e-6:
            raise ValueError(
                f"packet interval: {self.name} packs whole {self.frame_ms:g} ms frames; use a "
                f"positive multiple of {self.frame_ms:g} ms (e.g. {self.packet_interval_ms:g}), "
                f"got {interval:g} ms"
            )
        return interval

    def payload_bytes(self, packet_interval_ms: float | None = None) -> int:
        """Bytes of encoded audio one packet carries at this interval."""
        return math.ceil(self.bitrate_bps * self.interval_ms(packet_interval_ms) / 8000)


CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (
        Codec("g711", "G.711 PCM, no packet-loss concealment", 0.0, 4.3, 64000, 0.125, 0.0, 20.0),
        Codec(
            "g711-plc",
            "G.711 PCM with G.711 Appendix I packet-loss concealment",
            0.0,
            25.1,
            64000,
            0.125,
            3.75,
            20.0,
        ),
        Codec("g729a", "G.729 Annex A CS-ACELP, 8 kbit/s", 11.0, 19.0, 8000, 10.0, 5.0, 20.0),
        Codec("g723.1", "G.723.1 MP-MLQ, 6.3 kbit/s", 15.0, 16.1, 6300, 30.0, 7.5, 30.0),
    )
}


def codec_named(name: str) -> Codec:
    """Returns the codec with this name.

    Raises:
        ValueError: naming the codecs there are.
    """
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"codec: unknown codec {name!r}; use one of {', '.join(CODECS)}") from None
