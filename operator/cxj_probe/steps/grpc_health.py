"""The grpcHealth step: one grpc.health.v1.Health/Check call, SERVING or a named failure."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cxj_journey import __version__
from cxj_journey.model import GrpcHealthStep, Step
from cxj_probe.steps.base import Phase, StepContext, StepFailure, StepOutcome, now_ns

SERVING = health_pb2.HealthCheckResponse.SERVING

# How a failed call's status reads to the user; codes absent here are a protocol failure.
_ERROR_TYPES = {
    grpc.StatusCode.NOT_FOUND: "unknown_service",
    grpc.StatusCode.UNIMPLEMENTED: "unknown_service",
    grpc.StatusCode.UNAVAILABLE: "connection_refused",
    grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
    grpc.StatusCode.UNAUTHENTICATED: "auth",
    grpc.StatusCode.PERMISSION_DENIED: "auth",
}


def target_of(host: str, port: int) -> str:
    """The gRPC target for a host (name, IPv4 or IPv6 literal) and port."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def error_type_of(code: grpc.StatusCode, details: str) -> str:
    """The error.type of a failed Check call, from its status code and details."""
    lowered = details.lower()
    if code == grpc.StatusCode.UNAVAILABLE:
        if "dns resolution failed" in lowered or "name resolution" in lowered:
            return "name_resolution"
        if "handshake" in lowered or "ssl" in lowered:
            return "tls"
    return _ERROR_TYPES.get(code, "protocol")


def serving_status_name(status: int) -> str:
    """SERVING, NOT_SERVING, UNKNOWN or SERVICE_UNKNOWN."""
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))


async def run_grpc_health(step: Step, context: StepContext) -> StepOutcome:
    """Calls Health/Check once within the step's timeout; success means SERVING.

    The single phase, check, covers the connection (and TLS) and the call.
    """
    action = step.action
    if not isinstance(action, GrpcHealthStep):
        raise TypeError(f"run_grpc_health got a {type(action).__name__} step")
    outcome = StepOutcome(start_ns=now_ns(), end_ns=0)
    outcome.attributes.update(
        {
            "rpc.system": "grpc",
            "rpc.service": "grpc.health.v1.Health",
            "rpc.method": "Check",
            "server.address": action.host,
            "server.port": action.port,
        }
    )
    try:
        await _check(action, context, outcome)
    except StepFailure as failure:
        outcome.error_type, outcome.error_message = failure.error_type, failure.message
    finally:
        outcome.end_ns = now_ns()
    return outcome


async def _check(action: GrpcHealthStep, context: StepContext, outcome: StepOutcome) -> None:
    target = target_of(action.host, action.port)
    options = [("grpc.primary_user_agent", f"cxjourney-probe/{__version__}")]
    if action.tls:
        channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
    else:
        channel = grpc.aio.insecure_channel(target, options)
    service = action.service or "the server as a whole"
    started = now_ns()
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=action.service),
                timeout=context.timeout_s,
                metadata=tuple((k.lower(), v) for k, v in context.trace_headers.items()),
            )
        except grpc.aio.AioRpcError as error:
            outcome.phases.append(Phase("check", started, now_ns()))
            code, details = error.code(), error.details() or ""
            outcome.attributes["rpc.grpc.status_code"] = code.value[0]
            raise StepFailure(
                error_type_of(code, details),
                f"Health/Check of {service} at {target} failed: {code.name} {details}".rstrip(),
            ) from error
        outcome.phases.append(Phase("check", started, now_ns()))
        outcome.attributes["rpc.grpc.status_code"] = grpc.StatusCode.OK.value[0]
        status = serving_status_name(response.status)
        outcome.attributes["grpc.health.status"] = status
        if response.status != SERVING:
            raise StepFailure(
                "not_serving", f"Health/Check of {service} at {target} answered {status}"
            )
    finally:
        # None cancels any call still running, so a cancelled step leaves nothing behind.
        await channel.close(None)
