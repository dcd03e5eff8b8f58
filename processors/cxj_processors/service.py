"""The processor as a service: receivers, the evaluation loop, export and checkpoints."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from cxj_processors import compiled
from cxj_processors.config import ProcessorConfig
from cxj_processors.export import QueueFigures, build_request
from cxj_processors.grpc_server import start_grpc
from cxj_processors.heap import release_free_memory
from cxj_processors.http_server import OtlpHttpHandler, StatusHandler, start_http
from cxj_processors.outbox import Outbox, grpc_sender
from cxj_processors.pipeline import Pipeline

log = logging.getLogger("cxj.processor")


@dataclass
class ProcessorService:
    """Everything a running processor owns; start() then stop()."""

    config: ProcessorConfig
    pipeline: Pipeline = field(init=False)
    export: Outbox | None = field(init=False, default=None)
    passthrough: Outbox | None = field(init=False, default=None)
    _servers: list[object] = field(init=False, default_factory=list)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _thread: threading.Thread | None = field(init=False, default=None)
    _started_ns: int = field(init=False, default_factory=time.time_ns)

    def start(self) -> ProcessorService:
        """Restores state, opens the receivers and starts evaluating."""
        config = self.config
        folder = config.data_path()
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        if config.export_endpoint:
            self.export = _outbox(config, folder, "export", config.export_endpoint)
        if config.passthrough_endpoint:
            self.passthrough = _outbox(config, folder, "passthrough", config.passthrough_endpoint)
        self.pipeline = Pipeline(config, forward=self.passthrough.put if self.passthrough else None)
        status = start_http(self.pipeline, config.status_listen, StatusHandler)
        self._servers.append(status)
        self.pipeline.warm_up()
        log.info("kernels: %s", compiled.describe())
        self.pipeline.restore()
        self.pipeline.evaluate()
        self._servers.append(start_grpc(self.pipeline, config.grpc_listen))
        self._servers.append(start_http(self.pipeline, config.http_listen, OtlpHttpHandler))
        self._thread = threading.Thread(target=self._loop, name="cxj-evaluate", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        next_checkpoint = time.monotonic() + self.config.checkpoint_interval_s
        while not self._stop.wait(self.config.evaluation_interval_s):
            self.tick()
            release_free_memory()
            if time.monotonic() >= next_checkpoint:
                self.pipeline.checkpoint()
                next_checkpoint = time.monotonic() + self.config.checkpoint_interval_s

    def tick(self) -> None:
        """Evaluates every journey now and queues the derived metrics for export."""
        statuses = self.pipeline.evaluate()
        if self.export is not None:
            now_ns = time.time_ns()
            self.export.put("metrics", self.pipeline.conversations.export_request(now_ns))
            summaries = self.pipeline.conversations.summaries_request(now_ns)
            if summaries is not None:
                self.export.put("logs", summaries)
            self.export.put(
                "metrics",
                build_request(
                    statuses.values(),
                    self.pipeline.counters,
                    time_ns=time.time_ns(),
                    start_ns=self._started_ns,
                    queues=self.queue_figures(),
                ),
            )

    def queue_figures(self) -> QueueFigures:
        """The export and pass-through queues' figures, summed, as exported."""
        queues = [q for q in (self.export, self.passthrough) if q is not None]
        return QueueFigures(
            queued=sum(q.depth() for q in queues),
            dropped=sum(q.dropped for q in queues),
            rejected=sum(q.rejected for q in queues),
            retries=sum(q.retries for q in queues),
        )

    def stop(self) -> None:
        """Stops receiving, exports a last evaluation, checkpoints and drains the queues."""
        self._stop.set()
        for server in self._servers:
            if isinstance(server, grpc.Server):
                server.stop(grace=2).wait()
            else:
                server.shutdown()  # type: ignore[attr-defined]
                server.server_close()  # type: ignore[attr-defined]
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.tick()
        self.pipeline.close()
        for outbox in (self.export, self.passthrough):
            if outbox is not None:
                outbox.stop()


def _outbox(config: ProcessorConfig, folder: Path | None, name: str, endpoint: str) -> Outbox:
    return Outbox(
        None if folder is None else folder / name,
        grpc_sender(
            endpoint,
            insecure=config.export_insecure,
            headers=config.export_headers,
            reconnect_max_s=config.export_max_backoff_s,
        ),
        max_bytes=config.export_queue_max_bytes,
        max_backoff_s=config.export_max_backoff_s,
        name=name,
    ).start()
