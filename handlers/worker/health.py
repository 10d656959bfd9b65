"""``--with-healthcheck``: a tiny HTTP endpoint a supervisor can probe.

``GET /health`` answers 200 while the worker polls the API successfully and
503 once its last successful poll is older than 30 poll intervals (Prefect's
rule), e.g. when its token was revoked or the API is unreachable; a liveness
probe then restarts it.  It binds loopback only: it is for a supervisor on
the same host (or a pod's kubelet), not for the network.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
STALE_POLLS = 30


class HealthServer:
    def __init__(
        self, *, last_poll: Callable[[], float], poll_seconds: float, port: int = 8080
    ) -> None:
        self.last_poll = last_poll
        self.max_age = max(poll_seconds * STALE_POLLS, 30.0)
        self._server = ThreadingHTTPServer((HOST, port), _Handler)
        self._server.daemon_threads = True
        self._server.health = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="worker-health", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/health"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def report(self) -> tuple[int, dict[str, Any]]:
        age = time.monotonic() - self.last_poll()
        if age <= self.max_age:
            return 200, {"message": "OK", "seconds_since_last_poll": round(age, 1)}
        return 503, {
            "message": f"the worker has not polled the API for {age:.0f} s",
            "seconds_since_last_poll": round(age, 1),
        }


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet: probes are frequent
        return

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/health":
            self._send(404, {"detail": "only GET /health is served here"})
            return
        health: HealthServer = self.server.health  # type: ignore[attr-defined]
        self._send(*health.report())

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
