"""`cxj processor`: run the OTLP processor until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from cxj_processors.config import default_environ, load_config

_FLAGS = {
    "grpc_listen": "host:port for OTLP/gRPC (default 127.0.0.1:4317)",
    "http_listen": "host:port for OTLP/HTTP (default 127.0.0.1:4318)",
    "status_listen": "host:port for the status API, health and overview (default 127.0.0.1:8080)",
    "export_endpoint": "OTLP/gRPC host:port receiving derived metrics "
    "(default: OTEL_EXPORTER_OTLP_ENDPOINT, else none)",
    "passthrough_endpoint": "OTLP/gRPC host:port receiving the input unchanged",
    "data_dir": "folder for the write-ahead log, checkpoints and export queues "
    "(default: none, state is in memory only)",
    "evaluation_interval_s": "seconds between evaluations and exports (default 10)",
    "checkpoint_interval_s": "seconds between checkpoints (default 30)",
    "export_max_backoff_s": "ceiling in seconds of the pause between export retries (default 30)",
    "conversation_policy": "a CxConversationPolicy YAML file for conversation analytics "
    "(default: the built-in policy)",
}


def _run(args: argparse.Namespace) -> int:
    from cxj_processors.compiled import KernelsUnavailable
    from cxj_processors.heap import configure_allocator

    try:
        from cxj_processors.service import ProcessorService
    except KernelsUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_config(
            args.config, default_environ(), {name: getattr(args, name) for name in _FLAGS}
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    allocator = configure_allocator()  # before the service starts its threads
    logging.getLogger("cxj.processor").info("allocator settings: %s", allocator or "unchanged")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service = ProcessorService(config).start()
    except ValueError as error:  # e.g. an invalid conversation policy, named by its path
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stop.wait()
    service.stop()
    return 0


def add_processor_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `cxj processor`."""
    parser = sub.add_parser(
        "processor",
        help="run the OTLP processor (SLOs, burn rates, experience scores)",
        description="Receive OTLP (gRPC and HTTP), derive journey SLOs, burn-rate alerts, "
        "experience scores and attribution, serve the status API and export derived metrics "
        "over OTLP. Settings come from --config (YAML), CXJ_PROCESSOR_<SETTING> variables and "
        "these flags, later ones winning.",
    )
    parser.add_argument("--config", help="a YAML file of settings")
    for name, text in _FLAGS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, help=text)
    parser.set_defaults(run=_run)
