"""The grpcHealth step against a real grpc.aio server with the standard health service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from tests.harness.processes import free_port

from cxj_journey.model import GrpcHealthStep, Step
from cxj_probe.steps.base import StepContext, StepOutcome
from cxj_probe.steps.grpc_health import run_grpc_health

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class MetadataRecorder(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Keeps the invocation metadata of every call, to see what the probe propagated."""

    def __init__(self) -> None:
        self.metadata: list[dict[str, str]] = []

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        self.metadata.append(dict(handler_call_details.invocation_metadata or ()))
        return await continuation(handler_call_details)


@asynccontextmanager
async def health_server(
    statuses: dict[str, int], *, with_health: bool = True
) -> AsyncIterator[tuple[int, MetadataRecorder]]:
    recorder = MetadataRecorder()
    server = grpc.aio.server(interceptors=[recorder])
    if with_health:
        servicer = HealthServicer()
        for service, status in statuses.items():
            await servicer.set(service, status)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port, recorder
    finally:
        await server.stop(None)


def health_step(port: int, service: str, *, tls: bool = False) -> Step:
    action = GrpcHealthStep("127.0.0.1", port, service, tls)
    return Step("bot-health", "grpcHealth", "platform", 5.0, None, (), action)


def check(port: int, service: str, *, tls: bool = False) -> StepOutcome:
    step = health_step(port, service, tls=tls)
    context = StepContext({}, lambda n, k: "", {"traceparent": TRACEPARENT}, step.timeout_s)
    return asyncio.run(run_grpc_health(step, context))


def against_server(
    statuses: dict[str, int], service: str, *, with_health: bool = True
) -> tuple[StepOutcome, MetadataRecorder]:
    async def main() -> tuple[StepOutcome, MetadataRecorder]:
        async with health_server(statuses, with_health=with_health) as (port, recorder):
            step = health_step(port, service)
            context = StepContext({}, lambda n, k: "", {"traceparent": TRACEPARENT}, 5.0)
            return await run_grpc_health(step, context), recorder

    return asyncio.run(main())


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_serving_service_succeeds_and_propagates_traceparent() -> None:
    outcome, recorder = against_server({"cx.bot.v1.Bot": SERVING}, "cx.bot.v1.Bot")
    assert outcome.ok, outcome.error_message
    assert [p.name for p in outcome.phases] == ["check"]
    assert outcome.attributes["grpc.health.status"] == "SERVING"
    assert outcome.attributes["rpc.grpc.status_code"] == 0
    assert outcome.attributes["rpc.system"] == "grpc"
    assert outcome.attributes["rpc.service"] == "grpc.health.v1.Health"
    assert outcome.attributes["rpc.method"] == "Check"
    assert recorder.metadata[0]["traceparent"] == TRACEPARENT


def test_empty_service_checks_the_whole_server() -> None:
    outcome, _ = against_server({}, "")
    assert outcome.ok, outcome.error_message


def test_not_serving_is_not_serving() -> None:
    outcome, _ = against_server({"cx.bot.v1.Bot": NOT_SERVING}, "cx.bot.v1.Bot")
    assert outcome.error_type == "not_serving"
    assert outcome.attributes["grpc.health.status"] == "NOT_SERVING"
    assert "cx.bot.v1.Bot" in (outcome.error_message or "")


def test_unknown_service_is_unknown_service() -> None:
    outcome, _ = against_server({"cx.bot.v1.Bot": SERVING}, "cx.voice.v1.Voice")
    assert outcome.error_type == "unknown_service"
    assert outcome.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]


def test_server_without_health_service_is_unknown_service() -> None:
    outcome, _ = against_server({}, "", with_health=False)
    assert outcome.error_type == "unknown_service"
    assert outcome.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]


@pytest.mark.parametrize("tls", [False, True], ids=["plaintext", "tls"])
def test_nothing_listening_is_connection_refused(tls: bool) -> None:
    outcome = check(free_port(), "", tls=tls)
    assert outcome.error_type == "connection_refused"
    assert outcome.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]


def test_tls_to_a_plaintext_server_is_a_tls_failure() -> None:
    async def main() -> StepOutcome:
        async with health_server({}) as (port, _):
            step = health_step(port, "", tls=True)
            context = StepContext({}, lambda n, k: "", {}, 5.0)
            return await run_grpc_health(step, context)

    outcome = asyncio.run(main())
    assert outcome.error_type == "tls", outcome.error_message
