"""What the HTTP fakes share, so each one holds only its API's behaviour.

``ServedFake`` runs a fake's server on a daemon thread between ``__enter__``
and ``__exit__``; ``QuietHandler`` keeps test output free of access logs and
reads request bodies; ``RecordedFailures`` is for fakes (ARM, Cloud Run)
whose ``state`` records requests and holds an injected ``failure`` that
answers ``remaining`` requests (or all until ``heal``), optionally ``only``
those whose ``"METHOD path"`` matches.
"""

from __future__ import annotations

import re
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


def loopback_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threading HTTP server on a free 127.0.0.1 port that does not wait for its threads."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


class ServedFake:
    """Serves ``_server`` in the background while the fake is entered."""

    _server: socketserver.BaseServer
    _thread: threading.Thread

    def _serve_in_background(
        self, server: socketserver.BaseServer, *, poll_interval: float
    ) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class RecordedFailures(ServedFake):
    """A loopback fake whose ``state`` has ``lock``, ``failure`` and ``requests``."""

    state: Any

    @property
    def url(self) -> str:
        """The base URL of the (loopback TCP) server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def heal(self) -> None:
        with self.state.lock:
            self.state.failure = None

    def requests_to(self, method: str, pattern: str) -> list[Any]:
        with self.state.lock:
            return [
                r
                for r in self.state.requests
                if r.method == method and re.search(pattern, r.path) is not None
            ]


def take_failure(state: Any, method: str, path: str) -> Any:
    """The failure injected for this request, or None; counts down and clears a used-up one.

    Call with ``state.lock`` held.
    """
    failure = state.failure
    if failure is None or (
        failure.only is not None and failure.only.search(f"{method} {path}") is None
    ):
        return None
    if failure.remaining is not None:
        failure.remaining -= 1
        if failure.remaining <= 0:
            state.failure = None
    return failure


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no access log; GET, POST and DELETE go to ``handle_method``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not the fake's access log."""

    def do_GET(self) -> None:
        self.handle_method("GET")

    def do_POST(self) -> None:
        self.handle_method("POST")

    def do_DELETE(self) -> None:
        self.handle_method("DELETE")

    def handle_method(self, method: str) -> None:
        raise NotImplementedError

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""
