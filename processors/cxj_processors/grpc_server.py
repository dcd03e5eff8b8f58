"""OTLP/gRPC receiver: raw request bytes in (no protobuf objects), OTLP status semantics out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from cxj_processors.pipeline import Busy, Pipeline
from cxj_processors.wire import WireFormatError

log = logging.getLogger("cxj.processor.grpc")

SERVICES = {
    "traces": "opentelemetry.proto.collector.trace.v1.TraceService",
    "metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}


def export_response(signal: str, rejected: int, message: str) -> bytes:
    """Returns the serialized Export*ServiceResponse, with partial_success when rejecting."""
    if signal == "traces":
        response: Any = trace_service_pb2.ExportTraceServiceResponse()
        if rejected or message:
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = message
    elif signal == "metrics":
        response = metrics_service_pb2.ExportMetricsServiceResponse()
    else:
        response = logs_service_pb2.ExportLogsServiceResponse()
        if rejected or message:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
    data: bytes = response.SerializeToString()
    return data


def retry_status(message: str, retry_after_s: float) -> bytes:
    """A google.rpc.Status for RESOURCE_EXHAUSTED carrying RetryInfo, as OTLP asks."""
    delay = duration_pb2.Duration(seconds=int(retry_after_s), nanos=int((retry_after_s % 1) * 1e9))
    status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message)
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    data: bytes = status.SerializeToString()
    return data


def _handler(pipeline: Pipeline, signal: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            accepted = pipeline.accept(signal, request)
        except WireFormatError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed OTLP {signal}: {error}")
        except Busy as error:
            context.set_trailing_metadata(
                (
                    (
                        "grpc-status-details-bin",
                        retry_status(str(error), pipeline.config.retry_after_s),
                    ),
                )
            )
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"processor busy ({error}); retry after {pipeline.config.retry_after_s:g}s",
            )
        return export_response(signal, accepted.rejected_spans, accepted.message)

    return export


def start_grpc(pipeline: Pipeline, listen: str, workers: int = 8) -> grpc.Server:
    """Starts the OTLP/gRPC receiver on host:port and returns the server."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxj-otlp-grpc"),
        options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)],
    )
    for signal, service in SERVICES.items():
        handler = grpc.unary_unary_rpc_method_handler(
            _handler(pipeline, signal), request_deserializer=None, response_serializer=None
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"Export": handler}),)
        )
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"cannot listen for OTLP/gRPC on {listen}")
    server.start()
    log.info("OTLP/gRPC listening on %s", listen)
    return server
