"""The processor's pipeline: accept OTLP payloads, judge runs, keep windows, checkpoint.

An accepted trace payload is decoded (malformed input is refused before anything is
acknowledged), appended to the write-ahead log, and folded into the windows before the
caller acknowledges it. A checkpoint saves the windows and retires the log segments it
covers; on start the last checkpoint is loaded and the remaining log replayed, so a
kill -9 loses neither acknowledged data nor budget history.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from cxj_processors.baselines import attribute_runs
from cxj_processors.config import ProcessorConfig
from cxj_processors.conversations.analyzer import ConversationAnalyzer
from cxj_processors.conversations.decode import MalformedLogs
from cxj_processors.conversations.policy import default_policy, load_policy
from cxj_processors.extract import ExtractStats, RunExtractor, SeriesKey, make_decoder
from cxj_processors.model import SeriesContract, SeriesStatus
from cxj_processors.wal import WriteAheadLog
from cxj_processors.windows import WindowStore
from cxj_processors.wire import WireFormatError

log = logging.getLogger("cxj.processor")
BLAMED_PER_SERIES = 512  # the latest bad runs kept per series, for its failing step


class Busy(Exception):
    """The pipeline is at its in-flight bound; the client should retry after a pause."""


@dataclass
class Accepted:
    """The result of accepting one payload."""

    rejected_spans: int = 0
    message: str = ""


@dataclass
class Counters:
    """The processor's own counters (exported as cx.processor.* metrics)."""

    requests: dict[str, int] = field(default_factory=lambda: {"traces": 0, "metrics": 0, "logs": 0})
    malformed: int = 0
    refused_busy: int = 0
    spans: int = 0
    runs: int = 0
    late_dropped: int = 0
    future_dropped: int = 0
    orphaned_spans: int = 0
    rejected_spans: int = 0


@dataclass(frozen=True)
class JourneyStatus:
    """One series' evaluation with the names a user sees."""

    key: SeriesKey
    journey_type: str
    contract: SeriesContract
    status: SeriesStatus
    failing_step: str


class Pipeline:
    """Decode → extract runs → windows; thread-safe; one per processor."""

    def __init__(
        self,
        config: ProcessorConfig,
        *,
        clock: Callable[[], float] = time.time,
        forward: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.forward = forward
        self.decoder = make_decoder()
        self.extractor = RunExtractor()
        self.store = WindowStore(max_period_days=config.max_period_days)
        self.counters = Counters()
        self._lock = threading.Lock()
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self.statuses: dict[int, JourneyStatus] = {}
        self.blamed: dict[int, deque[tuple[float, str]]] = {}
        folder = config.data_path()
        self.wal = WriteAheadLog(folder / "wal") if folder else None
        self.conversations = ConversationAnalyzer(
            load_policy(config.conversation_policy)
            if config.conversation_policy
            else default_policy(),
            clock=clock,
        )
        self.ready = False
        self._epoch = clock()
        self.history: deque[tuple[float, dict[int, JourneyStatus]]] = deque(
            maxlen=config.history_size
        )

    # -- accepting ----------------------------------------------------------------------
    def accept(self, signal: str, payload: bytes) -> Accepted:
        """Accepts one OTLP export request of a signal.

        Raises:
            WireFormatError: when a trace payload is malformed (nothing is kept).
            Busy: when too many bytes are in flight.
        """
        with self._inflight_lock:
            if self._inflight + len(payload) > self.config.queue_max_bytes and self._inflight:
                self.counters.refused_busy += 1
                raise Busy(f"{self._inflight} bytes in flight")
            self._inflight += len(payload)
        try:
            return self._accept(signal, payload)
        finally:
            with self._inflight_lock:
                self._inflight -= len(payload)

    def _accept(self, signal: str, payload: bytes) -> Accepted:
        self.counters.requests[signal] = self.counters.requests.get(signal, 0) + 1
        if signal == "logs":
            try:
                result = self.conversations.accept_logs(payload)
            except MalformedLogs as error:
                self.counters.malformed += 1
                raise WireFormatError(str(error), 0) from error
            if self.forward is not None:
                self.forward(signal, payload)
            return Accepted(rejected_spans=result.rejected, message=result.message)
        if signal != "traces":
            if self.forward is not None:
                self.forward(signal, payload)
            return Accepted()
        try:
            batch = self.decoder.decode(payload)
        except WireFormatError:
            self.counters.malformed += 1
            raise
        if self.wal is not None:
            self.wal.append(signal, payload)
        if self.forward is not None:
            self.forward(signal, payload)
        stats = self._fold(batch)
        self.counters.spans += stats.spans
        if stats.rejected_resources:
            rejected = stats.journey_spans  # spans of journeys whose contract is unusable
            return Accepted(rejected_spans=rejected, message=stats.rejected_reason)
        return Accepted()

    def slo_time(self, t: float) -> float:
        """Maps real time to SLO time (identical unless a demo compresses time)."""
        scale = self.config.time_scale
        return t if scale == 1.0 else self._epoch + (t - self._epoch) * scale

    def _fold(self, batch: object) -> ExtractStats:
        with self._lock:
            runs, stats = self.extractor.extract(batch, self.clock())  # type: ignore[arg-type]
            if self.config.time_scale != 1.0:
                runs.end_s[:] = self._epoch + (runs.end_s - self._epoch) * self.config.time_scale
            added = self.store.add(runs, _Contracts(self.extractor), self.slo_time(self.clock()))
            self.counters.runs += stats.runs
            self.counters.orphaned_spans += stats.orphaned
            self.counters.late_dropped += added.late_dropped
            self.counters.future_dropped += added.future_dropped
            for series_index, end_s, step in stats.blamed_steps:
                charged = self.blamed.get(series_index)
                if charged is None:
                    charged = self.blamed[series_index] = deque(maxlen=BLAMED_PER_SERIES)
                charged.append((end_s, step))
        return stats

    def failing_step(self, series_index: int, now_s: float, window_s: float = 3600.0) -> str:
        """The step most often charged with bad runs in the last window ("" when none)."""
        recent = [
            step
            for end_s, step in self.blamed.get(series_index, ())
            if end_s >= now_s - window_s and step
        ]
        return Counter(recent).most_common(1)[0][0] if recent else ""

    def describe(self) -> dict[str, Any]:
        """What the processor has taken in so far: its counters, series and waiting spans."""
        with self._lock:
            return {
                "ready": self.ready,
                "series": len(self.extractor.series),
                "pendingSpans": self.extractor.pending_count(),
                "counters": dataclasses.asdict(self.counters),
            }

    # -- evaluating ---------------------------------------------------------------------
    def evaluate(self) -> dict[int, JourneyStatus]:
        """Evaluates every series now and caches the result for the status API and export."""
        real_now = self.clock()
        now = self.slo_time(real_now)
        with self._lock:
            series = list(enumerate(self.extractor.series))
            result = {
                index: JourneyStatus(
                    key=s.key,
                    journey_type=s.journey_type,
                    contract=s.contract,
                    status=self.store.evaluate(index, s.contract, now),
                    failing_step=self.failing_step(
                        index, real_now, 3600.0 / self.config.time_scale
                    ),
                )
                for index, s in series
            }
        self.statuses = result
        self.history.append((real_now, result))
        return result

    def warm_up(self) -> None:
        """Compiles the hot-path kernels on a throwaway run before any client waits on them."""
        from cxj_processors.model import RunRecords

        self.conversations.warm_up()
        payload = _sample_request()
        extractor = RunExtractor()
        runs, _ = extractor.extract(self.decoder.decode(payload), self.clock())
        store = WindowStore(max_period_days=self.config.max_period_days)
        store.add(
            RunRecords(**{k: getattr(runs, k) for k in runs.__dataclass_fields__}),
            [s.contract for s in extractor.series],
            self.clock(),
        )
        for index, series in enumerate(extractor.series):
            store.evaluate(index, series.contract, self.clock())
            sliced = dataclasses.replace(series.contract, budgeting="timeslices", timeslice_s=60.0)
            store.evaluate(index, sliced, self.clock())
        attribute_runs([0], [1.0], [0], 1)
        extractor.baselines.load_state_arrays(extractor.baselines.state_arrays())  # restores

    # -- durability ---------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Saves the windows and registry, then retires the log segments they cover."""
        folder = self.config.data_path()
        if folder is None or self.wal is None:
            return
        from cxj_processors.checkpoint import to_arrays

        with self._lock:
            segment = self.wal.rotate()
            arrays = to_arrays(self.store, self.extractor.baselines)
            registry = {
                "series": [
                    {
                        "namespace": s.key.namespace,
                        "journey": s.key.journey,
                        "location": s.key.location,
                        "type": s.journey_type,
                        "revision": s.revision,
                        "contract": s.contract.__dict__,
                        "steps": {str(k): v for k, v in s.steps.items()},
                    }
                    for s in self.extractor.series
                ],
                "components": [[*key, value] for key, value in self.extractor._components.items()],
                "component_names": self.extractor.component_names,
                "segment": segment,
            }
        temporary = folder / "checkpoint.tmp.npz"
        with temporary.open("wb") as handle:
            contents: dict[str, Any] = {
                "registry": np.frombuffer(json.dumps(registry).encode(), np.uint8),
                **arrays,
            }
            np.savez(handle, **contents)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(folder / "checkpoint.npz")
        self.wal.retire_before(segment)

    def restore(self) -> int:
        """Loads the last checkpoint and replays the log after it; returns records replayed."""
        folder = self.config.data_path()
        if folder is None or self.wal is None:
            self.ready = True
            return 0
        path = folder / "checkpoint.npz"
        since = 0
        if path.exists():
            from cxj_processors.checkpoint import from_arrays

            with np.load(path) as data:
                registry = json.loads(bytes(data["registry"]).decode())
                arrays = {k: data[k] for k in data.files if k != "registry"}
            self.store, self.extractor.baselines = from_arrays(arrays)
            for entry in registry["series"]:
                key = SeriesKey(entry["namespace"], entry["journey"], entry["location"])
                index = self.extractor.series_id(
                    key, entry["type"], SeriesContract(**entry["contract"]), entry["revision"]
                )
                self.extractor.series[index].steps = {int(k): v for k, v in entry["steps"].items()}
            for s, step, phase, value in registry["components"]:
                self.extractor._components[(s, step, phase)] = value
            self.extractor.component_names = [tuple(x) for x in registry["component_names"]]
            since = int(registry["segment"])
        replayed = 0
        for signal, payload in self.wal.replay(since, before=self.wal.current_segment):
            if signal == "traces":
                try:
                    self._fold(self.decoder.decode(payload))
                except WireFormatError:
                    log.error("write-ahead log record no longer decodes; skipped")
                    continue
                replayed += 1
        self.ready = True
        log.info(
            "restored: %d series, %d logged requests replayed", len(self.extractor.series), replayed
        )
        return replayed

    def close(self) -> None:
        """Checkpoints (when durable) and closes the log."""
        self.checkpoint()
        if self.wal is not None:
            self.wal.close()


class _Contracts(Sequence[SeriesContract]):
    """The extractor's series contracts as a sequence, without copying them per batch."""

    def __init__(self, extractor: RunExtractor) -> None:
        self._extractor = extractor
        self._series = extractor.series

    def __len__(self) -> int:
        return len(self._series)

    @property
    def version(self) -> int:
        """Moves whenever a series is registered or its contract replaced."""
        return self._extractor.contracts_version

    @overload
    def __getitem__(self, index: int) -> SeriesContract: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SeriesContract]: ...
    def __getitem__(self, index: int | slice) -> SeriesContract | Sequence[SeriesContract]:
        if isinstance(index, slice):
            return [s.contract for s in self._series[index]]
        return self._series[index].contract


def data_folder(config: ProcessorConfig) -> Path | None:
    """The configured data folder, created when missing."""
    folder = config.data_path()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sample_request() -> bytes:
    """One journey run (root and step span) as OTLP bytes, for warming the kernels."""
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2

    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(
        key="cx.journey.name", value=common_pb2.AnyValue(string_value="warm-up")
    )
    spans = resource_spans.scope_spans.add().spans
    now = time.time_ns()
    root = spans.add(
        trace_id=b"w" * 16,
        span_id=b"r" * 8,
        name="journey warm-up",
        start_time_unix_nano=now - 2_000_000,
        end_time_unix_nano=now,
    )
    step = spans.add(
        trace_id=b"w" * 16,
        span_id=b"s" * 8,
        parent_span_id=root.span_id,
        name="step",
        start_time_unix_nano=now - 1_000_000,
        end_time_unix_nano=now,
    )
    step.attributes.add(key="cx.step.name", value=common_pb2.AnyValue(string_value="step"))
    data: bytes = request.SerializeToString()
    return data
