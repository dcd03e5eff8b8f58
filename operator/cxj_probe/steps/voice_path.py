"""The voicePath step: a STAMP stream toward a reflector, scored with the E-model per direction."""

from __future__ import annotations

from cxj_journey import telemetry as names
from cxj_journey.model import Step, VoicePathStep
from cxj_probe.steps.base import Phase, StepContext, StepOutcome, now_ns
from cxj_probe.voice.sender import VoicePathError, measure_voice_path, parse_target


async def run_voice_path(step: Step, context: StepContext) -> StepOutcome:
    """Measures the media path and reports delay, jitter, loss and MOS per direction."""
    action = step.action
    assert isinstance(action, VoicePathStep)
    start = now_ns()
    try:
        result = await measure_voice_path(
            action.reflector,
            codec=action.codec,
            duration_s=action.duration_s,
            packet_interval_s=action.packet_interval_s,
            jitter_buffer_ms=action.jitter_buffer_ms,
            dscp=action.dscp,
            timeout_s=context.timeout_s,
        )
    except VoicePathError as error:
        return StepOutcome(start, now_ns(), error.error_type, str(error))
    end = now_ns()
    outcome = StepOutcome(start, end, phases=[Phase("stream", start, end)])
    outcome.attributes.update(
        {
            "server.address": parse_target(action.reflector)[0],
            "cx.voice.codec": action.codec,
            "cx.voice.packets.sent": result.packets_sent,
            "cx.voice.packets.received": result.packets_received,
        }
    )
    outcome.measurements[names.VOICE_RTT] = result.rtt_ms / 1000.0
    for direction, stats in (("outbound", result.outbound), ("inbound", result.inbound)):
        m = outcome.measurements
        m[names.voice_attribute(direction, "delay")] = stats.one_way_delay_ms / 1000.0
        m[names.voice_attribute(direction, "jitter")] = stats.jitter_ms / 1000.0
        m[names.voice_attribute(direction, "loss_ratio")] = stats.loss_ratio
        m[names.voice_attribute(direction, "burst_ratio")] = stats.burst_ratio
        m[names.voice_attribute(direction, "r")] = stats.r
        m[names.voice_attribute(direction, "mos")] = stats.mos
    return outcome
