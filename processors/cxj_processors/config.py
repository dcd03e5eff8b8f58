"""Processor configuration: parsed once at start-up from a file, environment and flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class ProcessorConfig:
    """Everything the processor needs to run; flags > environment (CXJ_PROCESSOR_*) > file."""

    grpc_listen: str = "127.0.0.1:4317"
    http_listen: str = "127.0.0.1:4318"
    status_listen: str = "127.0.0.1:8080"
    export_endpoint: str = ""  # OTLP/gRPC host:port for derived metrics; empty: no export
    export_insecure: bool = True
    export_headers: str = ""  # k=v,k=v as OTEL_EXPORTER_OTLP_HEADERS
    export_interval_s: float = 10.0
    passthrough_endpoint: str = ""  # OTLP/gRPC host:port that receives the input unchanged
    evaluation_interval_s: float = 10.0
    queue_max_requests: int = 256
    queue_max_bytes: int = 64 * 1024 * 1024
    retry_after_s: float = 1.0
    data_dir: str = ""  # write-ahead log, checkpoints and export queue; empty: in memory only
    checkpoint_interval_s: float = 30.0
    export_queue_max_bytes: int = 256 * 1024 * 1024  # per queue; past it the oldest are dropped
    export_max_backoff_s: float = 30.0  # ceiling of the doubling pause between export retries
    max_period_days: int = 30
    time_scale: float = (
        1.0  # demos only: >1 compresses SLO time (60: one second counts as a minute)
    )
    history_size: int = 600  # evaluations kept for the overview page's charts
    conversation_policy: str = ""  # a CxConversationPolicy file; empty: the default policy

    def data_path(self) -> Path | None:
        """The data folder, when one is configured."""
        return Path(self.data_dir) if self.data_dir else None


def _coerce(name: str, raw: Any, kind: type) -> Any:
    try:
        if kind is bool:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        return kind(raw)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: expected {kind.__name__}, got {raw!r}") from error


def load_config(
    path: str | None, environ: dict[str, str], overrides: dict[str, Any]
) -> ProcessorConfig:
    """Returns the configuration from a YAML file, CXJ_PROCESSOR_<FIELD> variables and flags.

    Raises:
        ValueError: naming the setting, for an unknown key or a value of the wrong type.
    """
    config = ProcessorConfig()
    types = {f.name: type(getattr(config, f.name)) for f in fields(config)}
    values: dict[str, Any] = {}
    if path:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings")
        for key, raw in loaded.items():
            name = str(key).replace("-", "_")
            if name not in types:
                raise ValueError(f"{path}: unknown setting {key!r}; known: {', '.join(types)}")
            values[name] = _coerce(f"{path}: {key}", raw, types[name])
    for name, kind in types.items():
        variable = f"CXJ_PROCESSOR_{name.upper()}"
        if variable in environ:
            values[name] = _coerce(variable, environ[variable], kind)
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(f"--{name.replace('_', '-')}", raw, types[name])
    if not values.get("export_endpoint", config.export_endpoint):
        endpoint = environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT", ""
        )
        values["export_endpoint"] = endpoint.removeprefix("http://").removeprefix("https://")
        if "OTEL_EXPORTER_OTLP_HEADERS" in environ and "export_headers" not in values:
            values["export_headers"] = environ["OTEL_EXPORTER_OTLP_HEADERS"]
    return replace(config, **values)


def default_environ() -> dict[str, str]:
    """The process environment, as a plain dict."""
    return dict(os.environ)
