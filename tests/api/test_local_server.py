"""`pushpool server`: exposure rules, event-driven dispatch, clean shutdown."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from handlers.cli.main import app
from handlers.local.server import Stack
from tests.api.support import local_server, make_deployment, make_pool, make_run, ok
from tests.servers import ServerProcess


class FlakyPush:
    """A push provider whose submissions fail retryably: claims stay unsubmitted."""

    emits_events = False
    supports_polling = True

    def build_request(self, job: Job) -> Any:
        return job.configuration

    def submit(self, request: Any, *, idempotency_key: str) -> str:
        raise InfrastructureError("throttled", retryable=True)

    def status(self, infra_id: str) -> InfraStatus:
        return InfraStatus(phase=InfraPhase.RUNNING)

    def cancel(self, infra_id: str) -> None:
        return None


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Stack, httpx.Client]]:
    providers = {"ecs:push": FlakyPush()}
    with local_server(tmp_path, with_worker=True, tick_seconds=1.0, providers=providers) as served:
        yield served


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_an_open_server_refuses_a_non_loopback_address():
    result = CliRunner().invoke(app, ["server", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "--auth" in result.output
    assert "Traceback" not in result.output


def test_a_run_due_now_is_submitted_within_a_second(local: tuple[Stack, httpx.Client]):
    _, http = local
    make_pool(http, "proc")
    deployment = make_deployment(http, "proc", command=f"{sys.executable} -c pass")
    created = time.monotonic()
    run = make_run(http, deployment["id"])
    submitted = wait_for(lambda: ok(http.get(f"/flow_runs/{run['id']}"))["infrastructure_pid"])
    latency = time.monotonic() - created
    assert submitted
    assert latency < 1.0, f"submitted after {latency:.2f} s"
    final = wait_for(
        lambda: (
            ok(http.get(f"/flow_runs/{run['id']}"))["end_time"]
            and ok(http.get(f"/flow_runs/{run['id']}"))
        )
    )
    assert final["state_type"] == "COMPLETED"
    assert ok(http.get("/work_pools/proc"))["status"] == "READY"  # the built-in worker heartbeats


def test_cancelling_a_running_process_stops_it(local: tuple[Stack, httpx.Client]):
    _, http = local
    make_pool(http, "proc")
    deployment = make_deployment(
        http, "proc", command=f"{sys.executable} -c 'import time; time.sleep(60)'"
    )
    run = make_run(http, deployment["id"])
    wait_for(lambda: ok(http.get(f"/flow_runs/{run['id']}"))["infrastructure_pid"])
    cancel = http.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}})
    assert cancel.json()["status"] == "ACCEPT"
    ended = wait_for(lambda: (r := ok(http.get(f"/flow_runs/{run['id']}")))["end_time"] and r)
    assert ended["state_type"] == "CANCELLED"


def test_stopping_hands_back_every_claim(local: tuple[Stack, httpx.Client]):
    stack, http = local
    make_pool(http, "push", type="ecs:push")
    make_pool(http, "proc")
    push = make_deployment(http, "push", name="push")
    proc = make_deployment(
        http, "proc", name="proc", command=f"{sys.executable} -c 'import time; time.sleep(60)'"
    )
    claimed = make_run(http, push["id"])
    running = make_run(http, proc["id"])
    wait_for(lambda: ok(http.get(f"/flow_runs/{claimed['id']}"))["state_type"] == "PENDING")
    wait_for(lambda: ok(http.get(f"/flow_runs/{running['id']}"))["infrastructure_pid"])
    released = stack.loops.stop()
    assert len(released) == 2
    store = stack.container.store
    back = store.get_run(claimed["id"])
    assert (back.state.type.value, back.attempt) == ("SCHEDULED", 2)
    assert store.get_run(running["id"]).state.type.value == "CRASHED"
    for pool in store.list_pools():
        assert store.counters(pool.id).pool_active == 0


@pytest.mark.slow
def test_the_server_command_serves_and_stops_cleanly_on_sigterm(
    tmp_path: Path, pushpool_server: Callable[..., ServerProcess]
):
    server = pushpool_server(env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")})
    assert server.output().startswith("pushpool API at http://127.0.0.1:"), server.output()
    assert httpx.get(f"{server.url}/health", timeout=10).json() is True
    assert (tmp_path / "data" / "pushpool" / "pushpool.db").exists()
    assert server.stop(timeout=20) == 0
    assert "pushpool server stopped." in server.output()
