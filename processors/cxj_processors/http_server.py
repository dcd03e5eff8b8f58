"""OTLP/HTTP receiver (protobuf and JSON) and the status API, on stdlib HTTP servers."""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from cxj_processors.grpc_server import export_response
from cxj_processors.pipeline import Busy, Pipeline
from cxj_processors.status import journey_document, summarize
from cxj_processors.wire import WireFormatError

log = logging.getLogger("cxj.processor.http")

PATHS = {"/v1/traces": "traces", "/v1/metrics": "metrics", "/v1/logs": "logs"}
REQUESTS: dict[str, Any] = {
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
MAX_BODY = 64 * 1024 * 1024


def _split_host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


class _Quiet(BaseHTTPRequestHandler):
    server_version = "cxj-processor"
    pipeline: Pipeline

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _send(
        self, code: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


class OtlpHttpHandler(_Quiet):
    """POST /v1/traces, /v1/metrics, /v1/logs with application/x-protobuf or application/json."""

    def do_POST(self) -> None:
        """Accepts one OTLP export request."""
        signal = PATHS.get(urlsplit(self.path).path)
        if signal is None:
            self._status(
                HTTPStatus.NOT_FOUND,
                code_pb2.NOT_FOUND,
                f"no OTLP path {self.path}",
                json_body=False,
            )
            return
        is_json = self.headers.get("Content-Type", "").startswith("application/json")
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length > MAX_BODY:
            self._status(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                code_pb2.INVALID_ARGUMENT,
                f"body over {MAX_BODY} bytes",
                json_body=is_json,
            )
            return
        body = self.rfile.read(length)
        try:
            encoding = self.headers.get("Content-Encoding", "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if is_json:
                body = json_format.Parse(
                    body.decode("utf-8"), REQUESTS[signal]()
                ).SerializeToString()
            accepted = self.pipeline.accept(signal, body)
        except (
            WireFormatError,
            json_format.ParseError,
            UnicodeDecodeError,
            OSError,
            zlib.error,
        ) as error:
            if not isinstance(error, WireFormatError):
                self.pipeline.counters.malformed += 1  # refused before the pipeline saw it
            self._status(
                HTTPStatus.BAD_REQUEST,
                code_pb2.INVALID_ARGUMENT,
                f"malformed OTLP {signal}: {error}",
                json_body=is_json,
            )
            return
        except Busy as error:
            retry = max(1, round(self.pipeline.config.retry_after_s))
            self._status(
                HTTPStatus.TOO_MANY_REQUESTS,
                code_pb2.RESOURCE_EXHAUSTED,
                f"processor busy ({error})",
                json_body=is_json,
                headers={"Retry-After": str(retry)},
            )
            return
        response = export_response(signal, accepted.rejected_spans, accepted.message)
        if is_json:
            message = type(REQUESTS[signal]()).__name__.replace("Request", "Response")
            parsed = getattr(_response_module(signal), message)()
            parsed.ParseFromString(response)
            self._send(200, json_format.MessageToJson(parsed).encode(), "application/json")
        else:
            self._send(200, response, "application/x-protobuf")

    def _status(
        self,
        http_code: int,
        rpc_code: int,
        message: str,
        *,
        json_body: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        status = status_pb2.Status(code=rpc_code, message=message)
        if json_body:
            self._send(
                http_code, json_format.MessageToJson(status).encode(), "application/json", headers
            )
        else:
            self._send(http_code, status.SerializeToString(), "application/x-protobuf", headers)


def _response_module(signal: str) -> Any:
    return {"traces": trace_service_pb2, "metrics": metrics_service_pb2, "logs": logs_service_pb2}[
        signal
    ]


class StatusHandler(_Quiet):
    """GET /healthz, /readyz, /api/v1/journeys[/NAMESPACE/NAME], /api/v1/processor, /."""

    def do_GET(self) -> None:
        """Serves health, the status API and the overview."""
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        if url.path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        elif url.path == "/readyz":
            ready = self.pipeline.ready
            self._send(200 if ready else 503, b"ready\n" if ready else b"restoring\n", "text/plain")
        elif url.path == "/api/v1/conversations/summary":
            summary = self.pipeline.conversations.summary()
            self._send(200, json.dumps(summary).encode(), "application/json")
        elif url.path == "/api/v1/processor":
            self._send(200, json.dumps(self.pipeline.describe()).encode(), "application/json")
        elif parts[:3] == ["api", "v1", "journeys"]:
            self._journeys(parts[3:], parse_qs(url.query))
        elif url.path == "/":
            from cxj_processors.overview import render_overview

            self._send(200, render_overview(self.pipeline).encode(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain")

    def _documents(self) -> list[dict[str, Any]]:
        return [journey_document(entry) for entry in self.pipeline.statuses.values()]

    def _journeys(self, rest: list[str], query: dict[str, list[str]]) -> None:
        body: dict[str, Any]
        documents = self._documents()
        if len(rest) == 2:
            namespace, name = rest
            mine = [d for d in documents if d["namespace"] == namespace and d["name"] == name]
            if not mine:
                self._send(
                    404,
                    json.dumps(
                        {"error": f"no telemetry yet for journey {namespace}/{name}"}
                    ).encode(),
                    "application/json",
                )
                return
            body = {"summary": summarize(mine), "locations": mine}
        else:
            for key in ("namespace", "name", "location"):
                if key in query:
                    documents = [d for d in documents if d[key] == query[key][0]]
            body = {"generatedAt": time.time(), "journeys": documents}
        self._send(200, json.dumps(body).encode(), "application/json")


def start_http(pipeline: Pipeline, listen: str, handler: type[_Quiet]) -> ThreadingHTTPServer:
    """Starts a threaded HTTP server for the handler in a background thread."""
    bound = type(handler.__name__, (handler,), {"pipeline": pipeline})
    server = ThreadingHTTPServer(_split_host_port(listen), bound)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, name=f"cxj-{handler.__name__}", daemon=True
    ).start()
    log.info("%s listening on %s", handler.__name__, listen)
    return server
