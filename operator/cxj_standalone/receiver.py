"""The demo's incident receiver: an Alertmanager-compatible endpoint on loopback that records."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class IncidentReceiver:
    """Accepts POST /api/v2/alerts and keeps what arrived, so the demo can show it."""

    def __init__(self) -> None:
        self.received: list[tuple[float, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                try:
                    receiver.received.append((time.time(), json.loads(body)))
                    self.send_response(200)
                except json.JSONDecodeError:
                    self.send_response(400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> IncidentReceiver:
        """Serves in a background thread."""
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def lines(self) -> list[str]:
        """One readable line per received alert (Alertmanager v2 alerts)."""
        out = []
        for when, body in self.received:
            for alert in body if isinstance(body, list) else [body]:
                labels, notes = alert.get("labels", {}), alert.get("annotations", {})
                resolved = alert.get("endsAt", "9") <= time.strftime(
                    "%Y-%m-%dT%H:%M:%S", time.gmtime(when + 1)
                )
                out.append(
                    f"{time.strftime('%H:%M:%S', time.localtime(when))} "
                    f"{'resolved' if resolved else 'firing':<8} {labels.get('severity', '?'):<6} "
                    f"{labels.get('namespace', '?')}/{labels.get('cx_journey_name', '?')} "
                    f"cause={notes.get('cx_suspected_layer', '?')} "
                    f"step={notes.get('cx_failing_step', '?')}"
                )
        return out
