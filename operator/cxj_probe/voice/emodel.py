"""ITU-T G.107 E-model: transmission rating R and MOS from delay, loss and codec, pure math.

Every G.107 parameter keeps its default (G.107 Table 3) except the ones a voice path
measures: the mean one-way (mouth-to-ear) delay Ta, the talker-echo path delay T (equal to
Ta unless given), the packet-loss percentage Ppl, the burst ratio BurstR, and the codec's
equipment impairment Ie and packet-loss robustness Bpl (G.113 Appendix I; the codec table
lives in `codecs` and is re-exported here). The softphone "simplified" model is offered
separately and always labelled as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from cxj_probe.voice.codecs import CODECS, Codec, codec_named

__all__ = [
    "CODECS",
    "Codec",
    "G107Parameters",
    "Rating",
    "SimplifiedRating",
    "codec_named",
    "mos_from_r",
    "rate",
    "rate_codec",
    "satisfaction",
    "simplified_rating",
]

E_MODEL = "e-model"
SIMPLIFIED_MODEL = "simplified"
ModelName = Literal["e-model", "simplified"]

MOS_MIN = 1.0
MOS_MAX = 4.5


@dataclass(frozen=True)
class G107Parameters:
    """E-model inputs under their G.107 symbols; every default is G.107 Table 3's.

    Attributes:
        slr: send loudness rating SLR (dB).
        rlr: receive loudness rating RLR (dB).
        stmr: sidetone masking rating STMR (dB).
        lstr: listener sidetone rating LSTR (dB).
        ds: D-value of the telephone, send side.
        telr: talker echo loudness rating TELR (dB).
        wepl: weighted echo path loss WEPL (dB).
        t: mean one-way delay of the echo path T (ms).
        tr: round-trip delay in a 4-wire loop Tr (ms).
        ta: absolute (mouth-to-ear) delay Ta (ms).
        qdu: number of quantization distortion units.
        ie: equipment impairment factor Ie.
        bpl: packet-loss robustness factor Bpl (G.711's 4.3; unused while Ppl is 0).
        ppl: random packet-loss probability Ppl (%).
        burst_r: burst ratio BurstR (1 for random loss, above 1 for bursty loss).
        nc: circuit noise referred to the 0 dBr point Nc (dBm0p).
        nfor: noise floor at the receive side Nfor (dBmp).
        ps: room noise at the send side Ps (dB(A)).
        pr: room noise at the receive side Pr (dB(A)).
        a: advantage factor A.
        m_t: minimum perceivable delay mT (ms).
        s_t: delay sensitivity sT.
    """

    slr: float = 8.0
    rlr: float = 2.0
    stmr: float = 15.0
    lstr: float = 18.0
    ds: float = 3.0
    telr: float = 65.0
    wepl: float = 110.0
    t: float = 0.0
    tr: float = 0.0
    ta: float = 0.0
    qdu: float = 1.0
    ie: float = 0.0
    bpl: float = 4.3
    ppl: float = 0.0
    burst_r: float = 1.0
    nc: float = -70.0
    nfor: float = -64.0
    ps: float = 35.0
    pr: float = 35.0
    a: float = 0.0
    m_t: float = 100.0
    s_t: float = 1.0


@dataclass(frozen=True)
class Rating:
    """The E-model's result with its terms, so a user can see which impairment dominates."""

    ro: float
    is_: float
    id: float
    idte: float
    idle: float
    idd: float
    ie_eff: float
    a: float
    r: float
    mos: float


def _check(parameters: G107Parameters) -> None:
    problems = []
    for name in ("t", "tr", "ta"):
        if getattr(parameters, name) < 0:
            problems.append(f"{name}: a delay cannot be negative, got {getattr(parameters, name)}")
    if not 0 <= parameters.ppl <= 100:
        problems.append(f"ppl: packet loss is a percentage in [0, 100], got {parameters.ppl}")
    if parameters.burst_r < 1:
        problems.append(
            f"burst_r: BurstR is 1 for random loss and above 1 for bursty loss, "
            f"got {parameters.burst_r}"
        )
    if parameters.bpl <= 0:
        problems.append(f"bpl: Bpl must be positive, got {parameters.bpl}")
    if parameters.qdu < 1:
        problems.append(f"qdu: at least 1 quantization distortion unit, got {parameters.qdu}")
    if parameters.m_t <= 0 or parameters.s_t <= 0:
        problems.append("m_t, s_t: mT and sT must be positive")
    if problems:
        raise ValueError("; ".join(problems))


def _soft_root(base: float, exponent: int, what: str) -> float:
    """(1 + base^exponent)^(1/exponent), G.107's smooth-maximum building block."""
    inner = 1.0 + math.copysign(abs(base) ** exponent, base if exponent % 2 else 1.0)
    if inner <= 0:
        raise ValueError(f"{what}: outside the range G.107 permits (its formula has no value)")
    return math.pow(inner, 1.0 / exponent)


def basic_signal_to_noise(p: G107Parameters) -> tuple[float, float]:
    """Returns (Ro, No): the basic signal-to-noise ratio and the summed noise power No."""
    olr = p.slr + p.rlr
    nfo = p.nfor + p.rlr
    pre = p.pr + 10 * math.log10(1 + 10 ** ((10 - p.lstr) / 10))
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    no = 10 * math.log10(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10))
    return 15 - 1.5 * (p.slr + no), no


def sidetone_impairment(p: G107Parameters) -> float:
    """Ist: impairment from non-optimum sidetone, with echo masking via STMRo."""
    stmro = -10 * math.log10(10 ** (-p.stmr / 10) + math.exp(-p.t / 4) * 10 ** (-p.telr / 10))
    return (
        12 * _soft_root((stmro - 13) / 6, 8, "stmr")
        - 28 * _soft_root((stmro + 1) / 19.4, 35, "stmr")
        - 13 * _soft_root((stmro - 3) / 33, 13, "stmr")
        + 29
    )


def simultaneous_impairment(p: G107Parameters, ro: float, no: float, ist: float) -> float:
    """Is = Iolr + Ist + Iq: impairments that occur with the voice signal itself."""
    olr = p.slr + p.rlr
    xolr = olr + 0.2 * (64 + no - p.rlr)
    iolr = 20 * (_soft_root(xolr / 8, 8, "slr/rlr") - xolr / 8)
    q = 37 - 15 * math.log10(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * math.log10(1 + 10**y + 10**z)
    return iolr + ist + iq


def talker_echo_impairment(p: G107Parameters, no: float, ist: float) -> float:
    """Idte: talker echo; 0 below T = 1 ms, where G.107 treats echo as sidetone."""
    if p.t < 1:
        idte = 0.0
    else:
        roe = -1.5 * (no - p.rlr)
        terv = (
            p.telr - 40 * math.log10((1 + p.t / 10) / (1 + p.t / 150)) + 6 * math.exp(-0.3 * p.t**2)
        )
        if p.stmr < 9:
            terv += ist / 2
        re = 80 + 2.5 * (terv - 14)
        idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.t))
    if p.stmr > 20:
        idte = math.sqrt(idte**2 + ist**2)
    return idte


def listener_echo_impairment(p: G107Parameters, ro: float) -> float:
    """Idle: listener echo over a 4-wire loop of round-trip delay Tr."""
    rle = 10.5 * (p.wepl + 7) * math.pow(p.tr + 1, -0.25)
    return (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)


def delay_impairment(ta: float, m_t: float = 100.0, s_t: float = 1.0) -> float:
    """Idd: impairment from too-long absolute delay Ta (G.107 formula with mT and sT)."""
    if ta <= m_t:
        return 0.0
    x = math.log(ta / m_t) / math.log(2)
    k = 6 * s_t
    return 25 * (math.pow(1 + x**k, 1 / k) - 3 * math.pow(1 + (x / 3) ** k, 1 / k) + 2)


def effective_equipment_impairment(ie: float, ppl: float, bpl: float, burst_r: float) -> float:
    """Ie,eff = Ie + (95 - Ie)·Ppl / (Ppl/BurstR + Bpl), with Ppl in percent."""
    return ie + (95 - ie) * ppl / (ppl / burst_r + bpl)


def mos_from_r(r: float) -> float:
    """G.107 Annex B conversion from R to MOS (conversational quality), clamped to [1, 4.5].

    Annex B gives 1 below R = 0, 4.5 above R = 100, and the cubic in between. The cubic
    dips below 1 for 0 < R < 6.5 (to 0.99), so the result is clamped to [1, 4.5]: MOS then
    never leaves the scale and never rises as R falls.
    """
    if r <= 0:
        return MOS_MIN
    if r >= 100:
        return MOS_MAX
    mos = 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6
    return min(MOS_MAX, max(MOS_MIN, mos))


def rate(parameters: G107Parameters) -> Rating:
    """Computes R = Ro - Is - Id - Ie,eff + A and its MOS.

    Raises:
        ValueError: naming the parameter that is outside the model's domain.
    """
    _check(parameters)
    p = parameters
    ro, no = basic_signal_to_noise(p)
    ist = sidetone_impairment(p)
    is_ = simultaneous_impairment(p, ro, no, ist)
    idte = talker_echo_impairment(p, no, ist)
    idle = listener_echo_impairment(p, ro)
    idd = delay_impairment(p.ta, p.m_t, p.s_t)
    ie_eff = effective_equipment_impairment(p.ie, p.ppl, p.bpl, p.burst_r)
    id_ = idte + idle + idd
    r = ro - is_ - id_ - ie_eff + p.a
    return Rating(ro, is_, id_, idte, idle, idd, ie_eff, p.a, r, mos_from_r(r))


def rate_codec(
    codec: Codec,
    *,
    mouth_to_ear_delay_ms: float,
    loss_pct: float = 0.0,
    burst_ratio: float = 1.0,
    echo_delay_ms: float | None = None,
) -> Rating:
    """Rates a call with this codec: Ta, T (= Ta unless given), Ppl and BurstR set, rest default.

    Raises:
        ValueError: naming the input outside the model's domain.
    """
    echo = mouth_to_ear_delay_ms if echo_delay_ms is None else echo_delay_ms
    parameters = replace(
        G107Parameters(),
        ta=mouth_to_ear_delay_ms,
        t=echo,
        ppl=loss_pct,
        burst_r=burst_ratio,
        ie=codec.ie,
        bpl=codec.bpl,
    )
    return rate(parameters)


@dataclass(frozen=True)
class SimplifiedRating:
    """The softphone model's result: effective latency, R and MOS. Not the E-model."""

    effective_latency_ms: float
    r: float
    mos: float


def simplified_rating(rtt_ms: float, jitter_ms: float, loss_pct: float) -> SimplifiedRating:
    """The simplified model many softphones use; a labelled alternative, not G.107.

    Effective latency EL = RTT + 2·jitter + 10 ms; R = 93.2 - EL/40 below EL = 160 ms, else
    93.2 - (EL - 120)/10; then R -= 2.5 per percent of loss; MOS as G.107 Annex B (clamped).

    Raises:
        ValueError: for negative inputs or loss above 100 %.
    """
    for name, value in (("rtt_ms", rtt_ms), ("jitter_ms", jitter_ms), ("loss_pct", loss_pct)):
        if value < 0:
            raise ValueError(f"{name}: must not be negative, got {value}")
    if loss_pct > 100:
        raise ValueError(f"loss_pct: a percentage in [0, 100], got {loss_pct}")
    latency = rtt_ms + 2 * jitter_ms + 10
    r = 93.2 - latency / 40 if latency < 160 else 93.2 - (latency - 120) / 10
    r -= 2.5 * loss_pct
    return SimplifiedRating(latency, r, mos_from_r(r))


def satisfaction(r: float) -> str:
    """G.109 user-satisfaction category for an R value."""
    for floor, label in (
        (90, "very satisfied"),
        (80, "satisfied"),
        (70, "some users dissatisfied"),
        (60, "many users dissatisfied"),
        (50, "nearly all users dissatisfied"),
    ):
        if r >= floor:
            return label
    return "not recommended"
