"""Which executor runs each step kind."""

from __future__ import annotations

from cxj_probe.runner import Executor
from cxj_probe.steps.dns import run_dns
from cxj_probe.steps.grpc_health import run_grpc_health
from cxj_probe.steps.http import run_http
from cxj_probe.steps.sip.client import run_sip
from cxj_probe.steps.tcp import run_tcp
from cxj_probe.steps.tls import run_tls
from cxj_probe.steps.voice_path import run_voice_path
from cxj_probe.steps.wait import run_wait
from cxj_probe.steps.websocket import run_websocket

EXECUTORS: dict[str, Executor] = {
    "dns": run_dns,
    "tcp": run_tcp,
    "tls": run_tls,
    "http": run_http,
    "websocket": run_websocket,
    "grpcHealth": run_grpc_health,
    "voicePath": run_voice_path,
    "sip": run_sip,
    "wait": run_wait,
}
