"""The processor as a service: receivers, the evaluation loop, export and checkpoints."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from cxj_processors.config import ProcessorConfig
from cxj_processors.export import build_request
from cxj_processors.grpc_server import start_grpc
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
            self.export = Outbox(
                _sub(folder, "export"),
                grpc_sender(
                    config.export_endpoint,
                    insecure=config.export_insecure,
                    headers=config.export_headers,
                ),
                max_bytes=config.export_queue_max_bytes,
            ).start()
        if config.passthrough_endpoint:
            self.passthrough = Outbox(
                _sub(folder, "passthrough"),
                grpc_sender(
                    config.passthrough_endpoint,
                    insecure=config.export_insecure,
                    headers=config.export_headers,
                ),
                max_bytes=config.export_queue_max_bytes,
            ).start()
        self.pipeline = Pipeline(config, forward=self.passthrough.put if self.passthrough else None)
        status = start_http(self.pipeline, config.status_listen, StatusHandler)
        self._servers.append(status)
        self.pipeline.warm_up()
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
                    queue_dropped=self.export.dropped,
                ),
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


def _sub(folder: Path | None, name: str) -> Path | None:
    return None if folder is None else folder / name
