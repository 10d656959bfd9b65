"""A separate ``pushpool worker start`` long-polls ``pushpool server`` (issue 16).

Both are real subprocesses on a SQLite store.  The worker polls every 30 s,
so only the long-poll can make it claim a run created now within the
(generous) bounds below; and a SIGTERM must not wait for a held poll.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from providers.process import ProcessProvider
from tests.api.support import Env, make_deployment, make_pool, make_run
from tests.e2e.worker_support import (
    ROOT,
    FlowScript,
    InProcessWorker,
    run_of,
    wait_for,
)
from tests.servers import PushpoolProcess, ServerProcess

CLAIMED = ("PENDING", "RUNNING", "COMPLETED")


@pytest.fixture
def server(tmp_path: Path, pushpool_server: Callable[..., ServerProcess]) -> str:
    environment = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    return pushpool_server(store=f"sqlite:///{tmp_path / 'store.db'}", env=environment).url


def start_worker(url: str, log: Path) -> PushpoolProcess:
    environment = {
        **os.environ,
        "PUSHPOOL_API_URL": url,
        "PUSHPOOL_PROFILE": str(log.parent / "no-profile.json"),
        "PUSHPOOL_WORKER_POLL_SECONDS": "30",
        "PUSHPOOL_WORKER_LONG_POLL_SECONDS": "15",
        "PUSHPOOL_WORKER_WATCH_SECONDS": "0.2",
    }
    return PushpoolProcess(["worker", "start", "--pool", "proc"], log=log, env=environment)


def test_a_run_created_now_is_claimed_at_once_and_sigterm_does_not_wait_for_the_poll(
    server: str, tmp_path: Path
):
    http = httpx.Client(base_url=server, timeout=30)
    make_pool(http, "proc")
    script = FlowScript.write(tmp_path)
    deployment = make_deployment(http, "proc", command=script.command)
    log = tmp_path / "worker.log"
    worker = start_worker(server, log)
    try:
        wait_for(lambda: "serving work pool" in worker.text() or not worker.running())
        assert worker.running(), worker.text()
        for _ in range(2):  # the second: the worker polls again at once after a claim
            time.sleep(1.0)  # the worker's poll is parked by now
            created = time.monotonic()
            run = make_run(http, deployment["id"])
            wait_for(lambda run=run: run_of(http, run["id"])["state_type"] in CLAIMED, every=0.01)
            assert time.monotonic() - created < 3, "claimed at a plain poll, not woken"
            wait_for(lambda run=run: run_of(http, run["id"])["state_type"] == "COMPLETED")
        time.sleep(1.0)  # parked again, for up to 15 s
        stopping = time.monotonic()
        assert worker.stop() == 0, worker.text()  # SIGTERM
        assert time.monotonic() - stopping < 8, "the stop waited for the held poll"
    finally:
        if worker.running():
            worker.kill9()
        http.close()


def test_against_a_server_that_answers_at_once_the_worker_keeps_its_interval(
    secured: Env, tmp_path: Path
):
    """The Lambda API (here: the API without the local trigger) ignores the
    wait; the long-polling worker must not turn that into a busy loop."""
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "proc")
    token = secured.token("worker", pool_name="proc")
    running = InProcessWorker.start(
        secured, token, "proc", ProcessProvider(), poll_seconds=0.5, long_poll_seconds=10.0
    )
    polls: list[float] = []
    fetch = running.worker.client.get_scheduled_flow_runs

    def counted(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        polls.append(time.monotonic())
        return fetch(*args, **kwargs)

    running.worker.client.get_scheduled_flow_runs = counted  # type: ignore[method-assign]
    try:
        time.sleep(2.0)
    finally:
        running.stop()
    assert 2 <= len(polls) <= 6, len(polls)  # every 0.5 s, not hundreds
