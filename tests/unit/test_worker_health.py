"""``--with-healthcheck``: healthy while the worker polls, 503 once polls stop."""

from __future__ import annotations

import time

import httpx

from handlers.worker.health import HealthServer


def test_health_turns_503_once_the_last_poll_is_older_than_thirty_intervals():
    last_poll = [time.monotonic()]
    server = HealthServer(last_poll=lambda: last_poll[0], poll_seconds=5, port=0)
    server.start()
    try:
        assert httpx.get(server.url, timeout=5).status_code == 200
        last_poll[0] -= 151  # 30 polls of 5 s, and one more second
        stale = httpx.get(server.url, timeout=5)
        assert stale.status_code == 503
        assert "has not polled the API for 15" in stale.json()["message"]
        assert stale.json()["seconds_since_last_poll"] >= 151
        assert httpx.get(server.url.replace("/health", "/other"), timeout=5).status_code == 404
    finally:
        server.stop()
