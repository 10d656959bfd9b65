"""A worker's life seen through the API: it makes its pool READY while it
heartbeats, creates a missing pool, refuses what it cannot serve, and on
SIGTERM hands back a run it claimed but could not start."""

from __future__ import annotations

import logging
import os
import re
import signal
from pathlib import Path

import httpx
import pytest

from handlers.worker.reporter import Reporter
from providers.registry import REGISTRY
from pushpool.client import Client
from tests.api.support import Env, make_deployment, make_pool, make_run, ok
from tests.e2e.worker_support import (
    FlowScript,
    WorkerProcess,
    run_of,
    wait_for,
)


def pool_status(http, name: str) -> str:
    return str(ok(http.get(f"/work_pools/{name}"))["status"])


def test_the_pool_is_ready_while_a_worker_heartbeats_and_not_ready_once_it_stops(
    secured: Env, tmp_path: Path
):
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "proc")
    assert pool_status(admin, "proc") == "NOT_READY"
    worker = WorkerProcess(
        secured, secured.token("worker", pool_name="proc"),
        ["--pool", "proc", "--name", "w1", "--with-healthcheck", "--healthcheck-port", "0"],
        tmp_path / "w.log",
    )  # fmt: skip
    try:
        worker.wait_started()
        assert pool_status(admin, "proc") == "READY"
        health_url = wait_for(lambda: re.search(r"healthcheck at (\S+)", worker.text()))[1]
        assert health_url.startswith("http://127.0.0.1:")
        health = httpx.get(health_url, timeout=5)
        assert (health.status_code, health.json()["message"]) == (200, "OK")
        workers = ok(admin.post("/work_pools/proc/workers/filter", json={}))
        assert [(w["name"], w["status"]) for w in workers] == [("w1", "ONLINE")]
    finally:
        assert worker.stop() == 0, worker.text()
    # Derived from the last heartbeat and the clock, not a flag the worker clears:
    # it stays READY for three heartbeat intervals (2 s here), then it is not.
    secured.clock.advance(seconds=7)
    assert pool_status(admin, "proc") == "NOT_READY"
    workers = ok(admin.post("/work_pools/proc/workers/filter", json={}))
    assert [w["status"] for w in workers] == ["OFFLINE"]


def test_a_worker_creates_its_missing_pool_with_the_types_default_template(
    secured: Env, tmp_path: Path
):
    admin_token = secured.token("admin")
    worker = WorkerProcess(
        secured, admin_token, ["--pool", "fresh", "--type", "docker", "--run-once"],
        tmp_path / "w.log",
    )  # fmt: skip
    assert worker.wait() == 0, worker.text()  # --run-once: nothing to do, it exits itself
    pool = ok(secured.as_(admin_token).get("/work_pools/fresh"))
    assert pool["type"] == "docker"
    assert pool["base_job_template"] == REGISTRY.default_template("docker")


@pytest.mark.parametrize(
    ("pool", "args", "says"),
    [
        ("missing", ["--type", "process"], "pushpool work-pool create missing --type process"),
        ("push", [], "needs no worker"),
        ("proc", ["--type", "docker"], "has type 'process', not 'docker'"),
    ],
    ids=["missing-pool-worker-token", "push-pool", "wrong-type"],
)
def test_a_worker_that_cannot_serve_its_pool_says_why_and_exits_1(
    secured: Env, tmp_path: Path, pool: str, args: list[str], says: str
):
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "proc")
    make_pool(admin, "push", type="ecs:push")
    token = secured.token("worker", pool_name=pool)
    worker = WorkerProcess(secured, token, ["--pool", pool, *args], tmp_path / "w.log")
    assert worker.wait() == 1
    assert says in worker.text()
    assert "Traceback" not in worker.text()


def test_sigterm_hands_back_a_claimed_run_it_could_not_start(secured: Env, tmp_path: Path):
    """The Docker daemon is down: the worker claims the run, keeps retrying the
    submission, and is stopped meanwhile.  The run goes back to SCHEDULED as a
    new attempt, holding no slot, for the next worker to claim."""
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "containers", type="docker", concurrency_limit=1)
    deployment = make_deployment(admin, "containers", command="python -m flow")
    run = make_run(admin, deployment["id"])
    worker = WorkerProcess(
        secured, secured.token("worker", pool_name="containers"), ["--pool", "containers"],
        tmp_path / "w.log", DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
    )  # fmt: skip
    try:
        wait_for(lambda: "retrying" in worker.text())
        claimed = run_of(admin, run["id"])
        assert (claimed["state_type"], claimed["infrastructure_pid"]) == ("PENDING", None)
        assert ok(admin.get("/work_pools/containers"))["active_slots"] == 1
    finally:
        assert worker.stop() == 0, worker.text()
    assert f"released on shutdown: {run['name']} ({run['id']}): handed back" in worker.text()
    back = run_of(admin, run["id"])
    assert (back["state_type"], back["attempt"]) == ("SCHEDULED", 2)
    assert "Handed back" in back["state"]["message"]
    assert back["next_scheduled_start_time"] == run["next_scheduled_start_time"]
    assert ok(admin.get("/work_pools/containers"))["active_slots"] == 0


def test_a_claim_lost_to_another_worker_is_refused_quietly(
    secured: Env, caplog: pytest.LogCaptureFixture
):
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "proc")
    run = make_run(admin, make_deployment(admin, "proc", command="true")["id"])
    token = secured.token("worker", pool_name="proc")
    with (
        Client(secured.api.url, api_key=token) as first,
        Client(secured.api.url, api_key=token) as second,
    ):
        caplog.set_level(logging.DEBUG, logger="pushpool.worker")
        assert Reporter(first, "first").claim((run["id"], run["attempt"])) is True
        assert Reporter(second, "second").claim((run["id"], run["attempt"])) is False
    assert run_of(admin, run["id"])["state"]["message"] == "Claimed by worker first."
    lost = [r for r in caplog.records if "not accepted" in r.getMessage()]
    assert [r.levelno for r in lost] == [logging.DEBUG]
    assert "another claim got it first" in lost[0].getMessage()


def start_sleeping_run(env: Env, tmp_path: Path, seconds: float, *args: str):
    admin = env.as_(env.token("admin"))
    make_pool(admin, "proc")
    script = FlowScript.write(tmp_path)
    deployment = make_deployment(admin, "proc", command=script.command)
    run = make_run(admin, deployment["id"], parameters={"seconds": seconds})
    worker = WorkerProcess(
        env, env.token("worker", pool_name="proc"), ["--pool", "proc", *args], tmp_path / "w.log"
    )
    wait_for(lambda: run_of(admin, run["id"])["state_type"] == "RUNNING")
    return admin, run, worker


def test_sigterm_lets_a_running_run_finish_within_the_grace_period(secured: Env, tmp_path: Path):
    admin, run, worker = start_sleeping_run(secured, tmp_path, 1.5, "--shutdown-grace", "30")
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.text()
    assert run_of(admin, run["id"])["state_type"] == "COMPLETED"
    assert "released on shutdown" not in worker.text()


def test_a_run_still_running_after_the_grace_period_is_stopped_and_crashed(
    secured: Env, tmp_path: Path
):
    admin, run, worker = start_sleeping_run(secured, tmp_path, 60, "--shutdown-grace", "0.5")
    pid = int(run_of(admin, run["id"])["infrastructure_pid"].split(":")[0])
    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.text()
    crashed = run_of(admin, run["id"])
    assert crashed["state_type"] == "CRASHED"
    assert "stopped before the run finished" in crashed["state"]["message"]
    assert f"released on shutdown: {run['name']} ({run['id']}): stopped, CRASHED" in worker.text()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert ok(admin.get("/work_pools/proc"))["active_slots"] == 0
