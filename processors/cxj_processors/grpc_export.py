"""Sending raw OTLP request bytes to an OTLP/gRPC endpoint (the outgoing queues' transport)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

log = logging.getLogger("cxj.processor.export")

METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
# Codes OTLP clients retry; RESOURCE_EXHAUSTED too, even without RetryInfo: keeping data wins.
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.DATA_LOSS,
}
Send = Callable[[str, bytes], None]


def retry_delay(error: grpc.RpcError) -> float:
    """The delay a server asked for in RetryInfo (OTLP's throttling signal); 0 when none."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:
                return 0.0
            for detail in status.details:
                info = error_details_pb2.RetryInfo()
                if detail.Unpack(info):
                    return float(info.retry_delay.seconds + info.retry_delay.nanos / 1e9)
    return 0.0


_RESPONSES: dict[str, type[Message]] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}


def grpc_sender(
    endpoint: str,
    *,
    insecure: bool,
    headers: str,
    timeout_s: float = 10.0,
    reconnect_max_s: float = 30.0,
) -> Send:
    """Returns a function that sends raw OTLP request bytes to an OTLP/gRPC endpoint.

    The channel's reconnection backoff is capped at reconnect_max_s, so a backend that comes
    back is reached again within that time. A partial success (items the backend refused) is
    logged, not retried, as OTLP asks.
    """
    options = [
        ("grpc.initial_reconnect_backoff_ms", 500),
        ("grpc.min_reconnect_backoff_ms", 500),
        ("grpc.max_reconnect_backoff_ms", max(int(reconnect_max_s * 1000), 500)),
    ]
    channel = (
        grpc.insecure_channel(endpoint, options=options)
        if insecure
        else grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(), options=options)
    )
    metadata = tuple(
        (key.strip().lower(), value.strip())
        for key, _, value in (item.partition("=") for item in headers.split(",") if item)
    )
    calls = {
        signal: channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        for signal, method in METHODS.items()
    }

    def send(signal: str, payload: bytes) -> None:
        answer = calls[signal](payload, timeout=timeout_s, metadata=metadata)
        try:
            response: Any = _RESPONSES[signal].FromString(answer)
        except DecodeError:
            return  # acknowledged; an unreadable answer carries no refusal we could act on
        partial = response.partial_success
        refused = sum(
            getattr(partial, field, 0)
            for field in ("rejected_spans", "rejected_data_points", "rejected_log_records")
        )
        if refused or partial.error_message:
            log.warning(
                "backend %s accepted a %s request partially: %d items refused (%s)",
                endpoint,
                signal,
                refused,
                partial.error_message or "no reason given",
            )

    return send
