"""`cxj run`: probes and processor in one process, a summary at the end and an HTML report."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.harness.processes import free_port


class Flaky(BaseHTTPRequestHandler):
    """An agent desktop whose CRM lookup fails every third call."""

    calls = 0

    def do_GET(self) -> None:
        Flaky.calls += 1
        failing = self.path.startswith("/crm") and Flaky.calls % 3 == 0
        body = b"down" if failing else b"Agent Desktop"
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def target() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_cxj_run_prints_a_summary_and_writes_a_report(tmp_path: Path, target: int) -> None:
    journeys = tmp_path / "journeys.yaml"
    journeys.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "cxjourney.dev/v1alpha1",
                "kind": "CxJourney",
                "metadata": {"name": "desk"},
                "spec": {
                    "type": "agent-desktop",
                    "interval": "1s",
                    "steps": [
                        {"name": "open", "http": {"url": f"http://127.0.0.1:{target}/desktop"}},
                        {
                            "name": "crm",
                            "layer": "dependency",
                            "http": {"url": f"http://127.0.0.1:{target}/crm"},
                        },
                    ],
                    "locations": [{"name": "hq"}],
                },
            }
        )
    )
    report = tmp_path / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxj_cli.main",
            "run",
            str(journeys),
            "--duration",
            "8",
            "--no-live",
            "--report",
            str(report),
            "--status-listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout
    assert "default/desk" in summary
    assert "dependency" in summary  # the CRM's failures are charged to the dependency
    assert "crm" in summary
    page = report.read_text()
    assert "default/desk" in page or "desk" in page
    assert "http://" not in page.split("<body", 1)[0]  # self-contained head: no external assets
