"""The outgoing queue's contract: FIFO, bounded with counted drops, durable, acknowledged last."""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from cxj_processors.export import QueueFigures, build_request
from cxj_processors.outbox import Outbox
from cxj_processors.pipeline import Counters


class Refused(grpc.RpcError):  # type: ignore[misc]  # grpc ships no stubs
    """What a gRPC call raises when the backend answers with an error status."""

    def __init__(self, code: grpc.StatusCode, retry_after_s: float | None = None) -> None:
        super().__init__(code.name)
        self._code = code
        self._trailers: tuple[tuple[str, bytes], ...] = ()
        if retry_after_s is not None:
            status = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="slow down")
            delay = Duration(seconds=int(retry_after_s), nanos=int(retry_after_s % 1 * 1e9))
            status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
            self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"backend says {self._code.name}"

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return self._trailers


class Backend:
    """A scripted backend: each call pops the next outcome (None: acknowledged)."""

    def __init__(self, outcomes: list[BaseException | None] | None = None) -> None:
        self.outcomes = list(outcomes or [])
        self.attempts: list[tuple[str, bytes]] = []
        self.received: list[tuple[str, bytes]] = []
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, signal: str, payload: bytes) -> None:
        self.attempts.append((signal, payload))
        self.gate.wait(10)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.received.append((signal, payload))


def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[object]:
    """The pauses the queue announced before each retry, as numbers."""
    return [
        r.args[-1] for r in caplog.records if isinstance(r.args, tuple) and "retrying in" in r.msg
    ]


def queued_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.otlp"))


@pytest.fixture(params=["on-disk", "in-memory"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    return tmp_path / "queue" if request.param == "on-disk" else None


@pytest.fixture
def outboxes() -> Iterator[list[Outbox]]:
    made: list[Outbox] = []
    yield made
    for outbox in made:
        outbox.stop(drain_s=0)


def make(
    outboxes: list[Outbox], folder: Path | None, backend: Backend, max_bytes: int = 1 << 20
) -> Outbox:
    outbox = Outbox(
        folder, backend, max_bytes=max_bytes, initial_backoff_s=0.01, max_backoff_s=0.04
    )
    outboxes.append(outbox)
    return outbox


def test_requests_are_delivered_oldest_first(folder: Path | None, outboxes: list[Outbox]) -> None:
    backend = Backend()
    outbox = make(outboxes, folder, backend)
    sent = [("metrics", b"m0"), ("logs", b"l1"), ("traces", b"t2"), ("metrics", b"m3")]
    for signal, payload in sent:
        outbox.put(signal, payload)
    outbox.start()
    eventually(lambda: outbox.depth() == 0, "queue drained")
    assert backend.received == sent
    assert (outbox.sent, outbox.dropped, outbox.retries) == (4, 0, 0)


def test_a_request_stays_queued_until_the_backend_acknowledges_it(
    folder: Path | None, outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    down = Refused(grpc.StatusCode.UNAVAILABLE)
    backend = Backend([down, down, down, down])
    backend.gate.clear()
    outbox = make(outboxes, folder, backend).start()
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        outbox.put("metrics", b"first")
        outbox.put("metrics", b"second")
        eventually(lambda: len(backend.attempts) == 1, "first attempt")
        assert outbox.depth() == 2  # in flight, not yet acknowledged: still queued
        if folder is not None:
            assert len(queued_files(folder)) == 2
        backend.gate.set()
        eventually(lambda: outbox.depth() == 0, "queue drained")
    assert [p for _, p in backend.attempts] == [b"first"] * 5 + [b"second"]
    assert [p for _, p in backend.received] == [b"first", b"second"]
    assert outbox.retries == 4
    delays = retry_delays(caplog)
    assert delays == [0.01, 0.02, 0.04, 0.04]  # doubling, capped at max_backoff_s
    assert "UNAVAILABLE" in caplog.text
    if folder is not None:
        assert queued_files(folder) == []


def test_the_delay_a_throttling_backend_asks_for_is_honoured(
    outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend([Refused(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after_s=0.3)])
    outbox = make(outboxes, None, backend).start()
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        outbox.put("metrics", b"m")
        eventually(lambda: outbox.depth() == 0, "delivered after the pause")
    delays = retry_delays(caplog)
    assert delays == [pytest.approx(0.3)]


def test_a_permanent_refusal_is_dropped_counted_and_the_queue_moves_on(
    folder: Path | None, outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend([Refused(grpc.StatusCode.INVALID_ARGUMENT)])
    outbox = make(outboxes, folder, backend)
    outbox.put("metrics", b"bad")
    outbox.put("metrics", b"good")
    with caplog.at_level(logging.ERROR, logger="cxj.processor.outbox"):
        outbox.start()
        eventually(lambda: outbox.depth() == 0, "queue drained")
    assert backend.received == [("metrics", b"good")]
    assert [p for _, p in backend.attempts] == [b"bad", b"good"]  # never retried
    assert (outbox.rejected, outbox.dropped, outbox.retries) == (1, 0, 0)
    assert "refused a metrics request permanently (StatusCode.INVALID_ARGUMENT" in caplog.text


def test_a_sender_failure_is_logged_and_retried_not_fatal(
    outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend([RuntimeError("channel closed")])
    outbox = make(outboxes, None, backend).start()
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        outbox.put("logs", b"l")
        eventually(lambda: outbox.depth() == 0, "delivered on the retry")
    assert backend.received == [("logs", b"l")]
    assert outbox.retries == 1
    assert "sending failed unexpectedly" in caplog.text
    assert "RuntimeError: channel closed" in caplog.text


def test_a_full_queue_drops_the_oldest_and_says_so(
    folder: Path | None, outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend()
    outbox = make(outboxes, folder, backend, max_bytes=30)
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        for index in range(5):
            outbox.put("metrics", b"%09d|" % index)  # 10 bytes each: room for 3
    assert (outbox.depth(), outbox.queued_bytes(), outbox.dropped) == (3, 30, 2)
    assert "over 30 bytes, dropped the 1 oldest requests (2 dropped in all)" in caplog.text
    if folder is not None:
        assert len(queued_files(folder)) == 3
    outbox.start()
    eventually(lambda: outbox.depth() == 0, "queue drained")
    assert [p for _, p in backend.received] == [b"000000002|", b"000000003|", b"000000004|"]


def test_a_request_larger_than_the_queue_is_refused_alone(
    folder: Path | None, outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    backend = Backend()
    outbox = make(outboxes, folder, backend, max_bytes=30)
    outbox.put("metrics", b"kept")
    with caplog.at_level(logging.ERROR, logger="cxj.processor.outbox"):
        outbox.put("metrics", b"x" * 31)
    assert (outbox.depth(), outbox.dropped) == (1, 1)  # the older request was not evicted
    assert "larger than the whole queue (30 bytes); raise export_queue_max_bytes" in caplog.text
    outbox.start()
    eventually(lambda: outbox.depth() == 0, "queue drained")
    assert backend.received == [("metrics", b"kept")]


def test_a_request_dropped_while_in_flight_never_takes_another_with_it(
    folder: Path | None, outboxes: list[Outbox]
) -> None:
    backend = Backend()
    backend.gate.clear()
    outbox = make(outboxes, folder, backend, max_bytes=20).start()
    outbox.put("metrics", b"0000000001")
    eventually(lambda: len(backend.attempts) == 1, "first request in flight")
    outbox.put("metrics", b"0000000002")
    outbox.put("metrics", b"0000000003")  # evicts the one in flight
    backend.gate.set()
    eventually(lambda: outbox.depth() == 0, "queue drained")
    assert [p for _, p in backend.received] == [b"0000000001", b"0000000002", b"0000000003"]
    assert outbox.dropped == 1  # counted when evicted, though its last attempt got through


def test_unknown_signals_are_a_programming_error(outboxes: list[Outbox]) -> None:
    outbox = make(outboxes, None, Backend())
    with pytest.raises(ValueError, match="signal: expected one of traces, metrics, logs"):
        outbox.put("profiles", b"p")


# -- durability -------------------------------------------------------------------------------
def test_queued_requests_survive_a_crash_and_keep_their_order(
    tmp_path: Path, outboxes: list[Outbox]
) -> None:
    folder = tmp_path / "queue"
    before = make(outboxes, folder, Backend([Refused(grpc.StatusCode.UNAVAILABLE)] * 100))
    for index in range(3):
        before.put("metrics", b"before-%d" % index)
    # The process dies here: no stop(), nothing but the files is left.
    backend = Backend()
    after = make(outboxes, folder, backend)
    assert after.depth() == 3
    after.put("logs", b"after")
    after.start()
    eventually(lambda: after.depth() == 0, "queue drained")
    assert backend.received == [
        ("metrics", b"before-0"),
        ("metrics", b"before-1"),
        ("metrics", b"before-2"),
        ("logs", b"after"),
    ]
    assert queued_files(folder) == []


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def _flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:12])


@pytest.mark.parametrize(
    "damage",
    [_truncate, _flip_a_bit, _empty, _header_only],
    ids=["truncated", "bit-flipped", "empty", "header-only"],
)
@pytest.mark.parametrize("position", [1, 2], ids=["middle", "newest"])
def test_a_damaged_request_is_dropped_and_counted_without_losing_the_others(
    tmp_path: Path,
    outboxes: list[Outbox],
    caplog: pytest.LogCaptureFixture,
    damage: Callable[[Path], None],
    position: int,
) -> None:
    folder = tmp_path / "queue"
    before = make(outboxes, folder, Backend())
    for index in range(3):
        before.put("metrics", b"request-%d" % index)
    damage(folder / queued_files(folder)[position])
    (folder / "0000000000000003.metrics.otlp.tmp").write_bytes(b"CXQ1\x20")  # a put cut short
    backend = Backend()
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        after = make(outboxes, folder, backend).start()
        eventually(lambda: after.depth() == 0, "queue drained")
    expected = [b"request-%d" % i for i in range(3) if i != position]
    assert [p for _, p in backend.received] == expected
    assert after.dropped == 1
    assert "torn or damaged" in caplog.text or "shorter than its header" in caplog.text
    assert "a write cut short by a crash" in caplog.text
    assert list(folder.iterdir()) == []


def test_files_that_are_not_queued_requests_are_left_alone(
    tmp_path: Path, outboxes: list[Outbox], caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / "notes.otlp").write_text("mine")
    with caplog.at_level(logging.WARNING, logger="cxj.processor.outbox"):
        outbox = make(outboxes, folder, Backend())
    assert outbox.depth() == 0
    assert "ignored" in caplog.text
    assert (folder / "notes.otlp").read_text() == "mine"


def test_stop_delivers_what_is_queued_while_the_backend_answers(
    tmp_path: Path, outboxes: list[Outbox]
) -> None:
    backend = Backend()
    outbox = Outbox(tmp_path / "queue", backend, max_bytes=1 << 20).start()
    for index in range(20):
        outbox.put("metrics", b"%d" % index)
    outbox.stop(drain_s=10)
    assert len(backend.received) == 20
    assert queued_files(tmp_path / "queue") == []


def test_stop_during_an_outage_keeps_the_queue_on_disk(
    tmp_path: Path, outboxes: list[Outbox]
) -> None:
    backend = Backend([Refused(grpc.StatusCode.UNAVAILABLE)] * 100)
    outbox = make(outboxes, tmp_path / "queue", backend).start()
    outbox.put("metrics", b"m")
    eventually(lambda: outbox.retries > 0, "a failed attempt")
    outbox.stop(drain_s=30)
    assert len(queued_files(tmp_path / "queue")) == 1
    assert backend.received == []


# -- what the queue's figures look like to a user ---------------------------------------------
def test_the_queue_figures_are_exported_as_processor_metrics() -> None:
    payload = build_request(
        [],
        Counters(),
        time_ns=2_000,
        start_ns=1_000,
        queues=QueueFigures(queued=7, dropped=2, rejected=1, retries=5),
    )
    request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(payload)
    metrics = {m.name: m for m in request.resource_metrics[0].scope_metrics[0].metrics}
    assert metrics["cx.processor.export.queued"].gauge.data_points[0].as_double == 7
    figures = {
        name: metrics[name].sum.data_points[0].as_int
        for name in (
            "cx.processor.export.dropped",
            "cx.processor.export.rejected",
            "cx.processor.export.retries",
        )
    }
    assert figures == {
        "cx.processor.export.dropped": 2,
        "cx.processor.export.rejected": 1,
        "cx.processor.export.retries": 5,
    }
    assert all(metrics[name].sum.is_monotonic for name in figures)


def test_a_request_that_cannot_be_written_is_dropped_and_counted(
    tmp_path: Path,
    outboxes: list[Outbox],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "queue"
    backend = Backend()
    outbox = make(outboxes, folder, backend)
    outbox.put("metrics", b"kept")

    def disk_full(path: Path, data: bytes) -> int:
        path.touch()  # the file is created, then the write fails
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    with caplog.at_level(logging.ERROR, logger="cxj.processor.outbox"):
        outbox.put("metrics", b"lost")
    monkeypatch.undo()
    assert queued_files(folder) == ["0000000000000000.metrics.otlp"]
    assert list(folder.glob("*.tmp")) == []
    assert (outbox.depth(), outbox.dropped) == (1, 1)
    assert "could not write" in caplog.text
    assert "free space in data_dir" in caplog.text
    outbox.start()
    eventually(lambda: outbox.depth() == 0, "queue drained")
    assert backend.received == [("metrics", b"kept")]
