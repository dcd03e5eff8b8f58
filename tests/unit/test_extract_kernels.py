"""The extractor's kernels against plain Python: the hash table, trace grouping, span selection."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import naive
from tests.harness.spans import RESOURCE, Recorder, StepSpec, encode

from cxj_processors.extract import RunExtractor, make_decoder
from cxj_processors.kernels.gather import COLUMNS, gather_journey_spans
from cxj_processors.kernels.lookup import KeyTable, row_signatures, triple_signature
from cxj_processors.runs import LAYER_HASHES, SpanRows, fold_runs, group_by_trace, needs_excess
from cxj_processors.wire import SpanDecoder

KEYS = st.integers(min_value=1, max_value=2**64 - 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(KEYS, st.integers(-(2**31), 2**31 - 1).filter(lambda v: v != -1)), max_size=3000
    ),
    st.data(),
)
def test_the_table_answers_like_a_dictionary_through_growth(
    pairs: list[tuple[int, int]], data: st.DataObject
) -> None:
    table, reference = KeyTable(capacity=4), {}
    for start in range(0, len(pairs), 250):  # several puts, so the table grows in between
        chunk = pairs[start : start + 250]
        table.put(
            np.array([k for k, _ in chunk], dtype=np.uint64),
            np.array([v for _, v in chunk], dtype=np.int32),
        )
        reference.update(chunk)
    probes = list(reference) + data.draw(st.lists(KEYS, max_size=50))
    found, missing = table.find(np.array(probes, dtype=np.uint64))
    assert found.tolist() == [reference.get(k, -1) for k in probes]
    assert missing == sum(k not in reference for k in probes)
    assert len(table) == len(reference)


def test_the_table_refuses_the_empty_key_and_the_missing_value_and_clears() -> None:
    table = KeyTable()
    with pytest.raises(ValueError, match="keys: 0 marks an empty slot"):
        table.put(np.array([0], dtype=np.uint64), np.array([1], dtype=np.int32))
    with pytest.raises(ValueError, match="values: -1 reads as missing"):
        table.put(np.array([3], dtype=np.uint64), np.array([-1], dtype=np.int32))
    table.put(np.array([7], dtype=np.uint64), np.array([1], dtype=np.int32))
    table.clear()
    assert table.find(np.array([7], dtype=np.uint64))[0].tolist() == [-1]
    assert len(table) == 0


def _triple(series: int, first: np.uint64, second: np.uint64) -> int:
    """The kernels' triple signature, called from Python: the helper is plain Python when the
    suite runs on the compiled module, where NumPy warns on the hash's intended wraparound."""
    with np.errstate(over="ignore"):
        return int(triple_signature(series, first, second))


def test_signatures_tell_rows_and_triples_apart_and_are_never_zero() -> None:
    hashes = np.array([[1, 2], [1, 2], [2, 1], [0, 0]], dtype=np.uint64)
    numbers = np.array([[np.nan, 1.0], [np.nan, 1.0], [np.nan, 1.0], [0.0, 0.0]])
    rows = row_signatures(hashes, numbers.view(np.uint64))
    assert rows[0] == rows[1]
    assert len(set(rows.tolist())) == 3
    assert rows.all()
    triples = [_triple(s, np.uint64(step), np.uint64(0)) for s, step in ((0, 5), (1, 5), (0, 6))]
    assert len(set(triples)) == 3
    assert all(triples)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), max_size=400))
def test_trace_grouping_matches_the_reference(trace_ids: list[tuple[int, int]]) -> None:
    hi = np.array([h for h, _ in trace_ids], dtype=np.uint64)
    lo = np.array([lo for _, lo in trace_ids], dtype=np.uint64)
    assert group_by_trace(hi, lo).tolist() == naive.trace_groups(trace_ids)


MAYBE = st.one_of(st.just(math.nan), st.floats(0.5, 5.0))
EXCESS = st.one_of(st.just(math.nan), st.floats(0.0, 9.0))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_runs_are_the_same_when_only_the_rows_that_need_it_carry_an_excess(
    data: st.DataObject,
) -> None:
    """Scoring only the rows `needs_excess` names gives the fold exactly what scoring all does."""
    n = data.draw(st.integers(0, 80))
    column = lambda strategy: data.draw(st.lists(strategy, min_size=n, max_size=n))  # noqa: E731
    start = np.array(column(st.integers(0, 10**9)), dtype=np.int64)
    rows = SpanRows(
        series=np.zeros(n, dtype=np.int32),
        trace_hi=np.zeros(n, dtype=np.uint64),
        trace_lo=np.array(column(st.integers(0, 6)), dtype=np.uint64),
        kind=np.array(column(st.sampled_from([0, 1, 1, 2, 2])), dtype=np.int8),
        failed=np.array(column(st.sampled_from([False] * 5 + [True])), dtype=np.bool_),
        start_ns=start,
        end_ns=start + np.array(column(st.integers(0, 2 * 10**9)), dtype=np.int64),
        threshold_s=np.array(column(MAYBE), dtype=np.float64),
        min_mos=np.array(column(MAYBE), dtype=np.float64),
        mos_out=np.array(column(MAYBE), dtype=np.float64),
        mos_in=np.array(column(MAYBE), dtype=np.float64),
        layer=np.array(column(st.integers(-1, 3)), dtype=np.int8),
        dns_error=np.array(column(st.booleans()), dtype=np.bool_),
        excess=np.array(column(EXCESS), dtype=np.float64),
        step_hash=np.zeros(n, dtype=np.uint64),
        arrived_s=np.zeros(n, dtype=np.float64),
    )
    order = group_by_trace(rows.trace_hi, rows.trace_lo)
    wanted = needs_excess(
        order, rows.trace_hi, rows.trace_lo, rows.kind, rows.start_ns, rows.end_ns,
        rows.threshold_s, rows.min_mos, rows.mos_out, rows.mos_in,
    )  # fmt: skip
    scored_all = fold_runs(rows)
    rows.excess = np.where(wanted, rows.excess, math.nan)
    scored_wanted = fold_runs(rows, order)
    for name in ("root_rows", "outcome", "layer", "blamed_row", "consumed"):
        assert np.array_equal(getattr(scored_all, name), getattr(scored_wanted, name)), name
    # Rows of unrooted traces are always wanted: their run may be judged later.
    rooted = {int(rows.trace_lo[i]) for i in range(n) if rows.kind[i] == 0}
    assert all(wanted[i] for i in range(n) if int(rows.trace_lo[i]) not in rooted)


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_span_selection_matches_the_reference(data: st.DataObject) -> None:
    resources = data.draw(st.integers(0, 6))
    spans = data.draw(st.integers(0, 60))
    resource_series = np.array(
        data.draw(st.lists(st.integers(-1, 4), min_size=resources, max_size=resources)),
        dtype=np.int32,
    )
    column = st.lists(st.integers(0, 2), min_size=spans, max_size=spans)
    resource_index = np.array(
        data.draw(st.lists(st.integers(-1, resources), min_size=spans, max_size=spans)),
        dtype=np.int32,
    )
    parents = np.array(data.draw(column), dtype=np.uint64)
    hashes = np.zeros((spans, COLUMNS), dtype=np.uint64)
    hashes[:, 0] = data.draw(column)  # step name
    hashes[:, 1] = data.draw(column)  # phase
    hashes[:, 2] = LAYER_HASHES[np.array(data.draw(column), dtype=np.int64) % 4]
    numbers = np.full((spans, COLUMNS), np.nan)
    numbers[:, 3] = np.arange(spans)  # thresholds, to follow each row
    (rows, series, kind, _, ids, times, numbers_out, layer, _, measured, signatures, durations) = (
        gather_journey_spans(
            resource_series,
            resource_index,
            np.arange(spans, dtype=np.uint64),
            np.zeros(spans, dtype=np.uint64),
            parents,
            np.arange(spans, dtype=np.int64),
            np.arange(spans, dtype=np.int64) + 5,
            np.zeros(spans, dtype=np.int8),
            hashes,
            numbers,
            np.arange(COLUMNS, dtype=np.int64),
            LAYER_HASHES,
            np.uint64(99),
        )
    )
    expected = naive.journey_span_kinds(
        resource_series.tolist(),
        resource_index.tolist(),
        parents.tolist(),
        hashes[:, 0].tolist(),
        hashes[:, 1].tolist(),
    )
    assert list(zip(rows.tolist(), series.tolist(), kind.tolist(), strict=True)) == expected
    assert ids[0].tolist() == rows.tolist()  # trace ids travel with their rows
    assert (times[1] - times[0]).tolist() == [5] * len(rows)
    assert numbers_out[0].tolist() == [float(r) for r in rows.tolist()]
    steps = [i for i, (_, _, k) in enumerate(expected) if k != 0]
    assert measured.tolist() == steps
    assert durations.tolist() == [5e-9] * len(steps)
    assert signatures.tolist() == [_triple(int(series[i]), ids[2][i], ids[3][i]) for i in steps]
    assert layer.tolist() == [int(np.argmax(hashes[r, 2] == LAYER_HASHES)) for r in rows]


def test_a_resource_seen_before_gives_the_same_runs_and_a_new_contract_takes_effect() -> None:
    decoder, extractor = make_decoder(), RunExtractor()
    recorder = Recorder()
    payloads = [encode(recorder.run([StepSpec("login"), StepSpec("crm")])) for _ in range(3)]
    first, _ = extractor.extract(decoder.decode(payloads[0]), 2e9)
    again, _ = extractor.extract(decoder.decode(payloads[1]), 2e9)
    assert first.series.tolist() == again.series.tolist() == [0]
    assert first.outcome.tolist() == again.outcome.tolist() == [0]

    stricter = Recorder({**RESOURCE, "cx.slo.objective": 99.9})
    extractor.extract(decoder.decode(encode(stricter.run([StepSpec("login")]))), 2e9)
    assert len(extractor.series) == 1
    assert extractor.series[0].contract.objective == pytest.approx(0.999)


def test_a_rejected_contract_is_reported_every_time_it_arrives() -> None:
    decoder, extractor = make_decoder(), RunExtractor()
    broken = Recorder({**RESOURCE, "cx.slo.objective": 150.0})
    for _ in range(2):
        runs, stats = extractor.extract(decoder.decode(encode(broken.run([StepSpec("a")]))), 2e9)
        assert len(runs.series) == 0
        assert stats.rejected_resources == 1
        assert "cx.slo.objective must be between 0 and 100" in stats.rejected_reason


def test_the_processor_decoder_leaves_span_names_unhashed_and_everything_else_equal() -> None:
    payload = encode(Recorder().run([StepSpec("login")]))
    processor = make_decoder()
    hashed = SpanDecoder(processor.resource_keys, processor.span_keys).decode(payload)
    plain = processor.decode(payload)
    assert plain.name_hash.tolist() == [0] * len(plain)
    assert hashed.name_hash.all()
    assert plain.span_attr_hash.tolist() == hashed.span_attr_hash.tolist()
    assert plain.name_len.tolist() == hashed.name_len.tolist()
