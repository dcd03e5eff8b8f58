"""The OTLP trace decoder extracts exactly what the protobuf library parses, and rejects the rest.

Every property compares `SpanDecoder` with the reference library
(`opentelemetry.proto.collector.trace.v1.trace_service_pb2`) plus a slow, obviously correct
extraction loop written here. Requests come from two generators: library-built ones (all
AnyValue kinds, unknown fields, empty and missing fields, large ids) and hand-encoded wire
bytes (repeated, reordered and mistyped fields, non-minimal varints), which the library
parses with protobuf's merge rules.

The kernels also run as plain Python: `test_plain_python_kernels_agree` does that in a
subprocess on a small case. To run this whole file that way (slow, but every array index is
then checked), use:

    NUMBA_DISABLE_JIT=1 .venv/bin/pytest tests/unit/test_wire_traces.py -q
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from tests.harness.python import run_python

from cxj_processors.wire import SpanBatch, SpanDecoder, WireFormatError, fnv1a64
from cxj_processors.wire.strings import _finish as finish_hash

RESOURCE_KEYS = ("service.name", "cx.journey.name", "k", "a key longer than sixteen bytes")
SPAN_KEYS = ("cx.step.name", "http.response.status_code", "exactly8", "é", "ZZZZZZZZ-mid-ZZZZZZZZ")
# Keys that must not match: same length and same first and last 8 bytes as a configured key.
NEAR_MISSES = (
    "ZZZZZZZZ-MID-ZZZZZZZZ",
    "a key longer than sixteen byteS",
    "exactly9",
    "cx.step.nam",
)
KEY_POOL = RESOURCE_KEYS + SPAN_KEYS + NEAR_MISSES + ("", "other", "x" * 200)
keys = st.sampled_from(KEY_POOL) | st.sampled_from(RESOURCE_KEYS + SPAN_KEYS)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_fnv1a64(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    return value or 1


# ---------------------------------------------------------------------------------------
# The reference extraction: protobuf library parse + a plain loop.

Value = tuple[str, Any] | None  # ("str", bytes) | ("num", float) | None when absent


@dataclass(frozen=True)
class Extracted:
    resources: list[list[Value]]
    spans: list[dict[str, Any]]


def _value(value: AnyValue) -> Value:
    which = value.WhichOneof("value")
    if which == "string_value":
        return ("str", value.string_value.encode())
    if which == "bytes_value":
        return ("str", value.bytes_value)
    if which in ("int_value", "double_value", "bool_value"):
        number = float(getattr(value, which))
        return None if math.isnan(number) else ("num", number)  # NaN reads as absent
    return None


def _wanted(attributes: Any, keys: tuple[str, ...]) -> list[Value]:
    found: dict[str, Value] = {}
    for attribute in attributes:  # a repeated key: the last one wins
        if attribute.key in keys:
            found[attribute.key] = _value(attribute.value) if attribute.HasField("value") else None
    return [found.get(key) for key in keys]


def _id(raw: bytes, size: int) -> tuple[int, ...]:
    assert len(raw) in (0, size)
    padded = raw or bytes(size)
    return tuple(int.from_bytes(padded[i : i + 8], "big") for i in range(0, size, 8))


def _int8(value: int) -> int:
    return value if -128 <= value <= 127 else -1


def _signed(value: int) -> int:
    return value - 2**64 if value >= 2**63 else value


def reference(
    payload: bytes, resource_keys: tuple[str, ...], span_keys: tuple[str, ...]
) -> Extracted:
    request = ExportTraceServiceRequest.FromString(payload)
    resources: list[list[Value]] = []
    spans: list[dict[str, Any]] = []
    for index, resource_spans in enumerate(request.resource_spans):
        resources.append(_wanted(resource_spans.resource.attributes, resource_keys))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "resource_index": index,
                        "trace_id": _id(span.trace_id, 16),
                        "span_id": _id(span.span_id, 8)[0],
                        "parent_span_id": _id(span.parent_span_id, 8)[0],
                        "name": span.name.encode(),
                        "kind": _int8(span.kind),
                        "start_ns": _signed(span.start_time_unix_nano),
                        "end_ns": _signed(span.end_time_unix_nano),
                        "status_code": _int8(span.status.code),
                        "attributes": _wanted(span.attributes, span_keys),
                    }
                )
    return Extracted(resources, spans)


def _cell(batch: SpanBatch, prefix: str, row: int, column: int) -> Value:
    hash_ = int(getattr(batch, f"{prefix}_attr_hash")[row, column])
    off = int(getattr(batch, f"{prefix}_attr_off")[row, column])
    length = int(getattr(batch, f"{prefix}_attr_len")[row, column])
    number = float(getattr(batch, f"{prefix}_attr_num")[row, column])
    if hash_:
        assert off >= 0
        assert math.isnan(number)
        text = batch.buffer[off : off + length].tobytes()
        assert len(text) == length
        assert hash_ == reference_fnv1a64(text)
        return ("str", text)
    assert (off, length) == (-1, 0)
    return None if math.isnan(number) else ("num", number)


def extracted(batch: SpanBatch) -> Extracted:
    """Reads a batch back into the reference's shape, checking the hashes on the way."""
    resources = [
        [_cell(batch, "resource", row, k) for k in range(batch.resource_attr_hash.shape[1])]
        for row in range(batch.resource_attr_hash.shape[0])
    ]
    spans = []
    for row in range(len(batch)):
        name = batch.buffer[batch.name_off[row] : batch.name_off[row] + batch.name_len[row]]
        assert int(batch.name_hash[row]) == reference_fnv1a64(name.tobytes())
        spans.append(
            {
                "resource_index": int(batch.resource_index[row]),
                "trace_id": (int(batch.trace_id_hi[row]), int(batch.trace_id_lo[row])),
                "span_id": int(batch.span_id[row]),
                "parent_span_id": int(batch.parent_span_id[row]),
                "name": name.tobytes(),
                "kind": int(batch.kind[row]),
                "start_ns": int(batch.start_ns[row]),
                "end_ns": int(batch.end_ns[row]),
                "status_code": int(batch.status_code[row]),
                "attributes": [
                    _cell(batch, "span", row, k) for k in range(batch.span_attr_hash.shape[1])
                ],
            }
        )
    return Extracted(resources, spans)


DECODER = SpanDecoder(RESOURCE_KEYS, SPAN_KEYS)


def assert_same_as_library(payload: bytes, decoder: SpanDecoder = DECODER) -> SpanBatch:
    batch = decoder.decode(payload)
    expected = reference(payload, decoder.resource_keys, decoder.span_keys)
    assert extracted(batch) == expected
    return batch


# ---------------------------------------------------------------------------------------
# Hand encoding, independent of the decoder.


def varint(value: int, padding: int = 0) -> bytes:
    """Minimal varint, plus up to `padding` redundant bytes (non-minimal, still 10 at most)."""
    value %= 2**64
    padding = min(padding, 10 - max(1, (value.bit_length() + 6) // 7))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value == 0 and padding == 0:
            out.append(byte)
            return bytes(out)
        if value == 0:
            padding -= 1
        out.append(byte | 0x80)


def tag(field: int, wire: int, padding: int = 0) -> bytes:
    return varint(field << 3 | wire, padding)


def len_field(field: int, payload: bytes, padding: int = 0) -> bytes:
    return tag(field, 2) + varint(len(payload), padding) + payload


def varint_field(field: int, value: int) -> bytes:
    return tag(field, 0) + varint(value)


def fixed_field(field: int, value: int, size: int = 8) -> bytes:
    body = (value % (1 << (8 * size))).to_bytes(size, "little")
    return tag(field, 1 if size == 8 else 5) + body


def key_value(key: str, value: bytes) -> bytes:
    return len_field(1, key.encode()) + len_field(2, value)


# ---------------------------------------------------------------------------------------
# Strategy 1: library-built requests.

# Values that repeat, and pairs that differ only in their middle (same length, same first and
# last 8 bytes) or in one byte: the hash memo must tell them apart.
SIMILAR = ["ZZZZZZZZ-mid-ZZZZZZZZ", "ZZZZZZZZ-MID-ZZZZZZZZ", "abcdefgh", "abcdefgi", "ab", "aB"]
texts = st.text(max_size=12) | st.sampled_from(["", "é" * 70, "journey checkout", *SIMILAR])
ids16 = st.sampled_from([b""]) | st.binary(min_size=16, max_size=16)
ids8 = st.sampled_from([b"", b"\xff" * 8, b"\x00" * 7 + b"\x01"]) | st.binary(
    min_size=8, max_size=8
)
enums = st.integers(0, 5) | st.sampled_from([-1, -129, 127, 128, 2**31 - 1, -(2**31)])
uint64s = st.integers(0, 2**64 - 1) | st.sampled_from([0, 2**63, 2**64 - 1])


def unknown_fields() -> st.SearchStrategy[bytes]:
    """Fields no trace message defines, of every wire type protobuf keeps as unknown."""
    number = st.integers(20, 2**29 - 1)
    return st.lists(
        st.one_of(
            st.builds(varint_field, number, uint64s),
            st.builds(fixed_field, number, uint64s),
            st.builds(fixed_field, number, st.integers(0, 2**32 - 1), st.just(4)),
            st.builds(len_field, number, st.binary(max_size=20)),
        ),
        max_size=2,
    ).map(b"".join)


@st.composite
def any_values(draw: st.DrawFn, depth: int = 0) -> AnyValue:
    kind = draw(
        st.sampled_from(
            ["string", "bool", "int", "double", "bytes", "array", "kvlist", "unset", "strindex"]
        )
    )
    value = AnyValue()
    if kind == "string":
        value.string_value = draw(texts)
    elif kind == "bool":
        value.bool_value = draw(st.booleans())
    elif kind == "int":
        value.int_value = draw(st.integers(-(2**63), 2**63 - 1))
    elif kind == "double":
        value.double_value = draw(st.floats(allow_nan=True, allow_infinity=True))
    elif kind == "bytes":
        value.bytes_value = draw(st.binary(max_size=10))
    elif kind == "strindex":
        value.string_value_strindex = draw(st.integers(0, 100))
    elif kind in ("array", "kvlist") and depth < 2:
        items = draw(st.lists(any_values(depth + 1), max_size=2))
        if kind == "array":
            value.array_value.values.extend(items)
        else:
            value.kvlist_value.values.extend(KeyValue(key="k", value=item) for item in items)
    return value


@st.composite
def attributes(draw: st.DrawFn) -> list[KeyValue]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        attribute = KeyValue(key=draw(keys))
        if draw(st.integers(0, 9)):  # sometimes no value at all
            attribute.value.CopyFrom(draw(any_values()))
        attribute.MergeFromString(draw(unknown_fields()))
        out.append(attribute)
    return out


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(0, 4))):
        resource_spans = request.resource_spans.add()
        if draw(st.booleans()):
            resource_spans.resource.attributes.extend(draw(attributes()))
            resource_spans.resource.dropped_attributes_count = draw(st.integers(0, 3))
            resource_spans.resource.MergeFromString(draw(unknown_fields()))
        resource_spans.schema_url = draw(
            st.sampled_from(["", "https://opentelemetry.io/schemas/1.26.0"])
        )
        for _ in range(draw(st.integers(0, 3))):
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.name = draw(texts)
            scope_spans.scope.attributes.extend(draw(attributes()))
            for _ in range(draw(st.integers(0, 4))):
                span = scope_spans.spans.add(
                    trace_id=draw(ids16),
                    span_id=draw(ids8),
                    parent_span_id=draw(ids8),
                    trace_state=draw(st.sampled_from(["", "vendor=1"])),
                    name=draw(texts),
                    kind=draw(enums),
                    start_time_unix_nano=draw(uint64s),
                    end_time_unix_nano=draw(uint64s),
                    flags=draw(st.integers(0, 2**32 - 1)),
                    dropped_attributes_count=draw(st.integers(0, 2)),
                )
                span.attributes.extend(draw(attributes()))
                for _ in range(draw(st.integers(0, 2))):
                    event = span.events.add(name=draw(texts), time_unix_nano=draw(uint64s))
                    event.attributes.extend(draw(attributes()))
                    link = span.links.add(trace_id=draw(ids16), span_id=draw(ids8))
                    link.attributes.extend(draw(attributes()))
                if draw(st.booleans()):
                    span.status.code = cast(Any, draw(enums))  # open enum: any int32
                    span.status.message = draw(texts)
                span.MergeFromString(draw(unknown_fields()))
            scope_spans.MergeFromString(draw(unknown_fields()))
        resource_spans.MergeFromString(draw(unknown_fields()))
    return request.SerializeToString() + draw(unknown_fields())


@SETTINGS
@given(requests())
def test_library_built_requests_decode_exactly_as_the_library_parses(payload: bytes) -> None:
    assert_same_as_library(payload)


@settings(SETTINGS, max_examples=30)
@given(requests())
def test_decoding_without_keys_still_extracts_every_span(payload: bytes) -> None:
    batch = assert_same_as_library(payload, SpanDecoder([], []))
    assert batch.span_attr_hash.shape == (len(batch), 0)


# ---------------------------------------------------------------------------------------
# Strategy 2: hand-encoded wire bytes with protobuf's corner cases.

# field number -> kind, per message; kinds name a wire encoding or another message.
SCHEMA: dict[str, dict[int, str]] = {
    "Request": {1: "ResourceSpans"},
    "ResourceSpans": {1: "Resource", 2: "ScopeSpans", 3: "text"},
    "Resource": {1: "KeyValue", 2: "varint"},
    "ScopeSpans": {1: "Scope", 2: "Span", 3: "text"},
    "Scope": {1: "text", 2: "text", 3: "KeyValue", 4: "varint"},
    "Span": {
        1: "id16",
        2: "id8",
        3: "text",
        4: "id8",
        5: "text",
        6: "varint",
        7: "fixed64",
        8: "fixed64",
        9: "KeyValue",
        10: "varint",
        11: "Event",
        12: "varint",
        13: "Link",
        14: "varint",
        15: "Status",
        16: "fixed32",
    },
    "Status": {2: "text", 3: "varint"},
    "KeyValue": {1: "key", 2: "AnyValue", 3: "varint"},
    "AnyValue": {
        1: "text",
        2: "varint",
        3: "varint",
        4: "fixed64",
        5: "ArrayValue",
        6: "KeyValueList",
        7: "bytes",
        8: "varint",
    },
    "ArrayValue": {1: "AnyValue"},
    "KeyValueList": {1: "KeyValue"},
    "Event": {1: "fixed64", 2: "text", 3: "KeyValue", 4: "varint"},
    "Link": {1: "id16", 2: "id8", 3: "text", 4: "KeyValue", 5: "varint", 6: "fixed32"},
}
_WIRE = {"varint": 0, "fixed64": 1, "fixed32": 5}
# Most fields per message, by depth: request, resource spans, scope spans, span, ...
_MOST_FIELDS = (3, 4, 4, 8, 4, 3, 2)
# Fields drawn more often than the others, to reach attributes and their values.
_FAVOURED = {"Span": [9, 9, 9, 9, 5], "KeyValue": [1, 2], "AnyValue": [1, 3]}
_LEAVES = {
    "id16": ids16,
    "id8": ids8,
    "text": texts.map(str.encode),
    "key": keys.map(str.encode),
    "bytes": st.binary(max_size=8),
}


@st.composite
def _field(draw: st.DrawFn, field: int, kind: str, depth: int) -> bytes:
    padding = draw(st.sampled_from([0, 0, 0, 1, 3]))  # non-minimal lengths, up to 5 bytes
    if kind == "varint":
        return tag(field, 0) + varint(draw(uint64s), draw(st.sampled_from([0, 0, 2])))
    if kind in ("fixed64", "fixed32"):
        return fixed_field(field, draw(uint64s), 8 if kind == "fixed64" else 4)
    if kind in _LEAVES:
        return len_field(field, draw(_LEAVES[kind]), padding)
    return len_field(field, draw(raw_messages(kind, depth + 1)), padding)


@st.composite
def raw_messages(draw: st.DrawFn, message: str = "Request", depth: int = 0) -> bytes:
    """A message's fields in any order, repeated, mistyped or unknown: valid wire format."""
    schema = SCHEMA[message]
    if message == "KeyValue" and draw(st.integers(0, 3)):  # mostly the usual [key][value]
        key = len_field(1, draw(keys).encode())
        return key + len_field(2, draw(raw_messages("AnyValue", depth + 1)))
    out = []
    if message == "AnyValue" and draw(st.integers(0, 3)):  # mostly one value set
        out.append(draw(_field(*draw(st.sampled_from(sorted(schema.items()))), depth)))
    for _ in range(draw(st.integers(0, _MOST_FIELDS[depth] if depth < len(_MOST_FIELDS) else 0))):
        field = draw(st.sampled_from(sorted(schema) + _FAVOURED.get(message, [])))
        kind = schema[field]
        choice = draw(st.integers(0, 9))
        if choice == 0:  # the right field number with the wrong wire type: unknown
            wire = draw(st.sampled_from([w for w in (0, 1, 2, 5) if w != _WIRE.get(kind, 2)]))
            body = {0: varint(1), 1: bytes(8), 2: varint(1) + b"\x01", 5: bytes(4)}[wire]
            out.append(tag(field, wire, draw(st.sampled_from([0, 1]))) + body)
        elif choice == 1:
            out.append(draw(unknown_fields()))
        else:
            out.append(draw(_field(field, kind, depth)))
    return b"".join(out)


def library_accepts(payload: bytes) -> bool:
    try:
        ExportTraceServiceRequest.FromString(payload)
    except Exception:  # the library's DecodeError, under whichever name upb gives it
        return False
    return True


# What protobuf parses and the decoder refuses: ids of the wrong size (protobuf cannot know
# their size) and groups (a deprecated encoding that OTLP never uses).
ACCEPTED_ONLY_BY_PROTOBUF = ("must be 16 bytes", "must be 8 bytes", "group wire type")


def decode(payload: bytes) -> SpanBatch | WireFormatError:
    """The decoder's batch, or the error it raised."""
    try:
        return DECODER.decode(payload)
    except WireFormatError as error:
        return error


def assert_agrees_with_library(payload: bytes) -> None:
    """Whatever the library accepts, the decoder extracts identically (or refuses for one of
    the reasons above); the decoder may accept more: it does not look inside the messages it
    skips, nor validate UTF-8."""
    outcome = decode(payload)
    if isinstance(outcome, WireFormatError):
        assert 0 <= outcome.offset <= len(payload)
        if library_accepts(payload):
            assert any(reason in str(outcome) for reason in ACCEPTED_ONLY_BY_PROTOBUF), outcome
    elif library_accepts(payload):
        assert extracted(outcome) == reference(payload, RESOURCE_KEYS, SPAN_KEYS)


@SETTINGS
@given(raw_messages())
def test_hand_encoded_requests_follow_protobuf_merge_rules(payload: bytes) -> None:
    assume(library_accepts(payload))
    assert_agrees_with_library(payload)


@settings(max_examples=40, deadline=None)
@given(requests())
def test_truncation_at_every_offset_is_rejected_or_a_shorter_valid_request(payload: bytes) -> None:
    for cut in range(len(payload)):
        truncated = payload[:cut]
        outcome = decode(truncated)
        if isinstance(outcome, WireFormatError):
            assert 0 <= outcome.offset <= cut
            assert not library_accepts(truncated), outcome
        else:  # cut between two ResourceSpans: a valid request
            assert library_accepts(truncated)
            assert_same_as_library(truncated)


@SETTINGS
@given(requests(), st.data())
def test_corrupted_requests_never_crash_and_agree_when_valid(
    payload: bytes, data: st.DataObject
) -> None:
    mutated = bytearray(payload or b"\x0a\x00")
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            mutated[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "insert":
            mutated[where:where] = data.draw(st.binary(min_size=1, max_size=3))
        elif len(mutated) > 1:
            del mutated[where]
    assert_agrees_with_library(bytes(mutated))


# ---------------------------------------------------------------------------------------
# Malformed input: each kind of damage, at each level, names its offset and place.


def nest(inner: bytes, level: str) -> tuple[bytes, int]:
    """Places a message body at `level` of a whole request; returns (request, body offset)."""
    chains = {
        "request": [],
        "resource_spans": [1],
        "resource": [1, 1],
        "resource attribute": [1, 1, 1],
        "scope_spans": [1, 2],
        "span": [1, 2, 2],
        "status": [1, 2, 2, 15],
        "span attribute": [1, 2, 2, 9],
        "span attribute value": [1, 2, 2, 9, 2],
    }[level]
    payload = inner
    for depth, field in enumerate(reversed(chains)):
        if level.endswith("value") and depth == 1:  # the KeyValue needs a configured key,
            payload = len_field(1, b"cx.step.name") + payload  # or its value is not read
        payload = len_field(field, payload)
    return payload, len(payload) - len(inner)


DAMAGE = {
    # name: (bytes placed inside a message, offset of the bad element in them, message part);
    # the tag of field 20 takes two bytes
    "varint-truncated": (tag(6, 0) + b"\x80\x80", 1, "varint runs past the end"),
    "varint-11-bytes": (tag(6, 0) + b"\xff" * 10 + b"\x01", 1, "longer than 10 bytes"),
    "tag-over-32-bits": (b"\xf8\xff\xff\xff\xff\x0f\x01", 0, "does not fit in 32 bits"),
    "tag-6-bytes": (b"\x80\x80\x80\x80\x80\x08", 0, "does not fit in 32 bits"),
    "field-number-0": (b"\x00\x01", 0, "field number 0"),
    "wire-type-6": (b"\x0e\x01", 0, "invalid wire type 6"),
    "wire-type-7": (b"\x0f\x01", 0, "invalid wire type 7"),
    "start-group": (tag(20, 3) + tag(20, 4), 0, "group wire type 3"),
    "end-group": (tag(20, 4), 0, "group wire type 4"),
    "length-past-end": (tag(20, 2) + varint(50) + b"abc", 2, "of 50 bytes runs past the end"),
    # one-byte tags, as the decoder's fast paths read them: one- and two-byte lengths
    "short-length-past-end": (tag(5, 2) + varint(50) + b"abc", 1, "of 50 bytes runs past"),
    "two-byte-length-past-end": (tag(5, 2) + varint(200) + b"abc", 1, "of 200 bytes runs past"),
    "two-byte-length-truncated": (tag(5, 2) + b"\x80", 1, "varint runs past the end"),
    "huge-length": (tag(20, 2) + varint(2**63), 2, "2^62 or more bytes"),
    "fixed64-past-end": (tag(20, 1) + b"1234567", 2, "fixed-size field of 8 bytes"),
    "fixed32-past-end": (tag(20, 5) + b"123", 2, "fixed-size field of 4 bytes"),
}
LEVELS = [
    "request",
    "resource_spans",
    "resource",
    "resource attribute",
    "scope_spans",
    "span",
    "status",
    "span attribute",
    "span attribute value",
]
PATHS = {
    "request": "",
    "resource_spans": "resource_spans[0]",
    "resource": "resource_spans[0].resource",
    "resource attribute": "resource_spans[0].resource.attributes[0]",
    "scope_spans": "resource_spans[0].scope_spans[0]",
    "span": "resource_spans[0].scope_spans[0].spans[0]",
    "status": "resource_spans[0].scope_spans[0].spans[0].status",
    "span attribute": "resource_spans[0].scope_spans[0].spans[0].attributes[0]",
    "span attribute value": "resource_spans[0].scope_spans[0].spans[0].attributes[0].value",
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damage_is_reported_with_its_offset_and_place(damage: str, level: str) -> None:
    body, offset_in_body, message = DAMAGE[damage]
    payload, body_offset = nest(body, level)
    with pytest.raises(WireFormatError) as raised:
        DECODER.decode(payload)
    assert raised.value.offset == body_offset + offset_in_body
    assert message in str(raised.value)
    assert raised.value.path == PATHS[level]
    assert f"at byte {raised.value.offset}" in str(raised.value)
    assert library_accepts(payload) == (damage == "start-group")  # protobuf skips groups


@pytest.mark.parametrize(
    ("field", "size", "message"),
    [
        (1, 15, "trace_id must be 16 bytes or empty, got 15"),
        (1, 17, "trace_id must be 16 bytes or empty, got 17"),
        (2, 4, "span_id must be 8 bytes or empty, got 4"),
        (4, 9, "parent_span_id must be 8 bytes or empty, got 9"),
    ],
    ids=["trace-id-15", "trace-id-17", "span-id-4", "parent-9"],
)
def test_ids_of_the_wrong_size_are_rejected(field: int, size: int, message: str) -> None:
    payload, offset = nest(len_field(5, b"ok") + len_field(field, bytes(size)), "span")
    with pytest.raises(WireFormatError, match=message) as raised:
        DECODER.decode(payload)
    assert raised.value.offset == offset + 4
    assert raised.value.path == "resource_spans[0].scope_spans[0].spans[0]"


# ---------------------------------------------------------------------------------------
# Specific behaviours.


def one_span(*span_fields: bytes, resource: bytes = b"") -> bytes:
    span = b"".join(span_fields)
    scope_spans = len_field(2, span)
    resource_spans = (len_field(1, resource) if resource else b"") + len_field(2, scope_spans)
    return len_field(1, resource_spans)


STRING = AnyValue(string_value="text").SerializeToString()
INT = AnyValue(int_value=-7).SerializeToString()
ARRAY = AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=1)])).SerializeToString()


@pytest.mark.parametrize(
    ("occurrences", "expected"),
    [
        ([STRING, INT], ("num", -7.0)),
        ([INT, STRING], ("str", b"text")),
        ([INT, ARRAY], None),
        ([ARRAY, INT], ("num", -7.0)),
        ([STRING, b""], None),
    ],
    ids=["string-then-int", "int-then-string", "int-then-array", "array-then-int", "then-unset"],
)
def test_a_repeated_key_takes_its_last_value(occurrences: list[bytes], expected: Value) -> None:
    attributes = [
        len_field(9, len_field(1, b"cx.step.name") + (len_field(2, value) if value else b""))
        for value in occurrences
    ]
    payload = one_span(*attributes)
    batch = assert_same_as_library(payload)
    assert _cell(batch, "span", 0, 0) == expected


def test_a_value_field_given_twice_is_merged_like_protobuf() -> None:
    # KeyValue{key, value{int 5}, value{}}: merging an empty AnyValue keeps the int.
    kv = len_field(1, b"exactly8") + len_field(2, AnyValue(int_value=5).SerializeToString())
    payload = one_span(len_field(9, kv + len_field(2, b"")))
    assert _cell(assert_same_as_library(payload), "span", 0, 2) == ("num", 5.0)


@pytest.mark.parametrize(
    "layout",
    [
        [(2, STRING), (1, b"cx.step.name")],
        [(1, b"cx.step.name"), (2, STRING), (1, b"exactly8")],
        [(1, b"cx.step.name"), (2, STRING), (2, INT)],
        [(1, b"cx.step.name"), (2, STRING), (3, None)],
        [(1, b"cx.step.name"), (1, b"other"), (2, STRING)],
    ],
    ids=["value-first", "key-again-after-value", "value-again", "then-key-strindex", "key-twice"],
)
def test_unusual_key_value_layouts_follow_protobuf(layout: list[tuple[int, bytes | None]]) -> None:
    body = b"".join(varint_field(3, 7) if raw is None else len_field(f, raw) for f, raw in layout)
    assert_same_as_library(one_span(len_field(9, body)))


def test_a_status_given_twice_is_merged_like_protobuf() -> None:
    payload = one_span(len_field(15, varint_field(3, 2)), len_field(15, len_field(2, b"why")))
    assert assert_same_as_library(payload).status_code.tolist() == [2]


def test_ids_are_big_endian_and_empty_ids_are_zero() -> None:
    trace_id = bytes(range(1, 17))
    payload = one_span(
        len_field(1, trace_id), len_field(2, b"\x00" * 7 + b"\x2a"), len_field(4, b"")
    )
    batch = assert_same_as_library(payload)
    assert batch.trace_id_hi[0] == 0x0102030405060708
    assert batch.trace_id_lo[0] == 0x090A0B0C0D0E0F10
    assert (batch.span_id[0], batch.parent_span_id[0]) == (42, 0)


def test_spans_of_every_scope_are_flattened_in_wire_order() -> None:
    def span(name: bytes) -> bytes:
        return len_field(2, len_field(5, name))

    resource_spans = [
        len_field(2, span(b"a") + span(b"b")) + len_field(2, span(b"c")),
        len_field(1, len_field(1, key_value("k", STRING))),
        len_field(2, span(b"d")) + len_field(1, len_field(1, key_value("k", INT))),
    ]
    payload = b"".join(len_field(1, rs) for rs in resource_spans)
    batch = assert_same_as_library(payload)
    assert [
        batch.string(int(o), int(n)) for o, n in zip(batch.name_off, batch.name_len, strict=True)
    ] == list("abcd")
    assert batch.resource_index.tolist() == [0, 0, 0, 2]
    assert batch.resource_attr_num[:, 2].tolist()[2] == -7.0


def test_an_empty_request_is_an_empty_batch_with_the_contract_dtypes() -> None:
    batch = DECODER.decode(b"")
    assert len(batch) == 0
    expected = {
        "buffer": np.uint8,
        "resource_attr_hash": np.uint64,
        "resource_attr_off": np.int64,
        "resource_attr_len": np.int32,
        "resource_attr_num": np.float64,
        "resource_index": np.int32,
        "trace_id_hi": np.uint64,
        "trace_id_lo": np.uint64,
        "span_id": np.uint64,
        "parent_span_id": np.uint64,
        "name_hash": np.uint64,
        "name_off": np.int64,
        "name_len": np.int32,
        "kind": np.int8,
        "start_ns": np.int64,
        "end_ns": np.int64,
        "status_code": np.int8,
        "span_attr_hash": np.uint64,
        "span_attr_off": np.int64,
        "span_attr_len": np.int32,
        "span_attr_num": np.float64,
    }
    assert {f.name: getattr(batch, f.name).dtype for f in fields(batch)} == expected
    assert batch.resource_attr_hash.shape == (0, len(RESOURCE_KEYS))
    assert batch.span_attr_num.shape == (0, len(SPAN_KEYS))


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "strided-memoryview"])
def test_every_buffer_type_decodes_and_the_batch_owns_its_bytes(kind: str) -> None:
    payload = one_span(len_field(5, b"checkout"))
    source: Any = {
        "bytes": payload,
        "bytearray": bytearray(payload),
        "memoryview": memoryview(bytearray(payload)),
        "strided-memoryview": memoryview(
            bytes(b for pair in zip(payload, payload, strict=True) for b in pair)
        )[::2],
    }[kind]
    batch = DECODER.decode(source)
    if isinstance(source, bytearray):
        source[:] = bytes(len(source))  # the caller reuses its buffer
    assert batch.string(int(batch.name_off[0]), int(batch.name_len[0])) == "checkout"
    assert not batch.buffer.flags.writeable


def test_string_decodes_invalid_utf8_with_replacement_and_absent_as_empty() -> None:
    payload = one_span(len_field(9, key_value("cx.step.name", len_field(1, b"a\xffb"))))
    batch = DECODER.decode(payload)
    assert (
        batch.string(int(batch.span_attr_off[0, 0]), int(batch.span_attr_len[0, 0])) == "a\ufffdb"
    )
    assert batch.string(-1, 0) == ""


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"", 0xCBF29CE484222325), (b"a", 0xAF63DC4C8601EC8C), (b"foobar", 0x85944171F73967E8)],
    ids=["empty", "a", "foobar"],
)
def test_fnv1a64_matches_published_vectors(data: bytes, expected: int) -> None:
    assert fnv1a64(data) == expected == reference_fnv1a64(data)


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 16, 17])
@pytest.mark.parametrize("at_end", [True, False], ids=["last-bytes", "mid-buffer"])
def test_a_value_is_hashed_whole_however_long_and_wherever_it_sits(
    length: int, at_end: bool
) -> None:
    """Values of up to 8 bytes take a fixed-step path, which must not read past the string's
    end into the hash, nor past the buffer's end when the value is its last bytes."""
    text = bytes(range(65, 65 + length))
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.attributes.add(key="cx.step.name", value=AnyValue(string_value=text.decode()))
    if not at_end:
        span.status.message = "more than eight bytes"  # serialised after the attributes
    payload = request.SerializeToString()
    assert payload.endswith(b"\x0a" + bytes([length]) + text) == at_end
    batch = SpanDecoder([], SPAN_KEYS).decode(payload)
    assert int(batch.span_attr_hash[0, 0]) == reference_fnv1a64(text)


def test_a_string_hashing_to_zero_is_stored_as_one_and_absence_as_zero() -> None:
    # No input is known to hash to 0, so the final step of the hash columns is checked alone.
    assert int(finish_hash(np.uint64(0), 7)) == 1
    assert int(finish_hash(np.uint64(12345), 7)) == 12345
    assert int(finish_hash(np.uint64(12345), -1)) == 0


@pytest.mark.parametrize(
    ("resource_keys", "span_keys", "message"),
    [
        (["a", "a"], [], r"resource_keys\[1\]: 'a' appears twice"),
        ([], ["ok", ""], r"span_keys\[1\]: keys must be non-empty strings"),
        ("service.name", [], "single string"),
    ],
    ids=["repeated", "empty", "bare-string"],
)
def test_bad_key_lists_are_refused(resource_keys: Any, span_keys: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpanDecoder(resource_keys, span_keys)


def test_many_keys_in_one_table_all_match() -> None:
    keys = [f"key.{i}" for i in range(40)] + ["k" * n for n in range(1, 30)]
    decoder = SpanDecoder([], keys)
    kvs = [
        len_field(9, key_value(key, AnyValue(int_value=i).SerializeToString()))
        for i, key in enumerate(keys)
    ]
    batch = assert_same_as_library(one_span(*kvs), decoder)
    assert batch.span_attr_num[0].tolist() == [float(i) for i in range(len(keys))]


# ---------------------------------------------------------------------------------------
# The kernels as plain Python (NUMBA_DISABLE_JIT=1), where every array index is checked.

_PLAIN_PYTHON_CHECK = """
import random
from tests.unit import test_wire_traces as t
payload = t.SAMPLE
t.assert_same_as_library(payload)
for cut in range(len(payload)):
    t.decode(payload[:cut])
rng = random.Random(5)
for _ in range(300):
    mutated = bytearray(payload)
    mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
    t.assert_agrees_with_library(bytes(mutated))
print("plain python ok")
"""

SAMPLE = one_span(
    len_field(1, bytes(range(16))),
    len_field(2, b"\x01" * 8),
    len_field(5, "étape".encode()),
    varint_field(6, 3),
    fixed_field(7, 2**63 + 5),
    len_field(9, key_value("cx.step.name", STRING)),
    len_field(9, key_value("exactly8", AnyValue(double_value=2.5).SerializeToString())),
    len_field(9, key_value("é", AnyValue(bool_value=True).SerializeToString())),
    len_field(9, key_value("ZZZZZZZZ-MID-ZZZZZZZZ", STRING)),
    len_field(15, varint_field(3, 2)),
    resource=len_field(1, key_value("service.name", STRING)),
)


def test_plain_python_kernels_agree() -> None:
    environment = {"NUMBA_DISABLE_JIT": "1", "PYTHONWARNINGS": "error::RuntimeWarning"}
    assert "plain python ok" in run_python(_PLAIN_PYTHON_CHECK, env=environment, timeout=300)
