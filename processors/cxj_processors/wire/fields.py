"""Field numbers of the OTLP trace messages the decoder reads (opentelemetry-proto v1)."""

from __future__ import annotations

# ExportTraceServiceRequest
REQUEST_RESOURCE_SPANS = 1
# ResourceSpans
RESOURCE_SPANS_RESOURCE = 1
RESOURCE_SPANS_SCOPE_SPANS = 2
# Resource
RESOURCE_ATTRIBUTES = 1
# ScopeSpans
SCOPE_SPANS_SPANS = 2
# Span
SPAN_TRACE_ID = 1
SPAN_SPAN_ID = 2
SPAN_PARENT_SPAN_ID = 4
SPAN_NAME = 5
SPAN_KIND = 6
SPAN_START_TIME = 7
SPAN_END_TIME = 8
SPAN_ATTRIBUTES = 9
SPAN_STATUS = 15
# Status
STATUS_CODE = 3
