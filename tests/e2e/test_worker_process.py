"""Process pools served by real ``pushpool worker start`` subprocesses.

Two workers share a pool limited to 3; one of them is limited to 2.  The
flow runs are real subprocesses of the workers that log when they ran and
which worker started them, so the limits are checked against what actually
executed, besides what the API showed while it happened.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.support import Env, make_deployment, make_pool, make_run, ok
from tests.e2e.worker_support import (
    FlowScript,
    WorkerProcess,
    active_runs,
    all_ended,
    run_of,
    wait_for,
)

RUNS = 8
SECONDS = 0.5
LONG_SECONDS = 4.0


def setup_pool(env: Env, tmp_path: Path, *, limit: int | None = 3) -> tuple[str, FlowScript, dict]:
    admin = env.as_(env.token("admin"))
    make_pool(admin, "proc", concurrency_limit=limit)
    script = FlowScript.write(tmp_path)
    deployment = make_deployment(admin, "proc", command=script.command)
    worker_token = env.token("worker", pool_name="proc")
    return worker_token, script, deployment


class Sampler:
    """Counts slot-holding runs through the API, as often as it can, in a thread."""

    def __init__(self, env: Env) -> None:
        self.http = env.as_(env.token("admin"))
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, len(active_runs(self.http, "proc")))
            self.samples += 1
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@pytest.mark.slow
def test_two_workers_never_run_more_than_the_pool_allows_and_each_run_ends_by_its_exit_code(
    secured: Env, tmp_path: Path
):
    token, script, deployment = setup_pool(secured, tmp_path)
    admin = secured.as_(secured.token("admin"))

    def runs(count: int, seconds: float, first_code: int) -> list[dict]:
        return [
            make_run(admin, deployment["id"], parameters={"seconds": seconds, "code": code})
            for code in [(first_code + i) % 2 for i in range(count)]
        ]

    # Three long runs: the limited worker takes two and leaves the pool's third slot free.
    first = runs(3, LONG_SECONDS, 0)
    limited = WorkerProcess(secured, token, ["--pool", "proc", "--limit", "2", "--name", "a"],
                            tmp_path / "a.log")  # fmt: skip
    other = None
    try:
        with Sampler(secured) as alone:
            limited.wait_started()
            wait_for(lambda: len(active_runs(admin, "proc")) == 2)
            time.sleep(0.6)  # two more polls: the third run waits although the pool has room
        assert alone.peak == 2
        # The second worker takes the third run while the first two still run; more
        # short runs then keep both workers busy at the pool's limit.
        other = WorkerProcess(secured, token, ["--pool", "proc", "--name", "b"], tmp_path / "b.log")
        other.wait_started()
        all_runs = first + runs(RUNS - 3, SECONDS, 1)
        with Sampler(secured) as together:
            wait_for(lambda: all_ended(admin, [r["id"] for r in all_runs]), timeout=40)
        assert together.samples > 20
        assert together.peak <= 3
    finally:
        assert limited.stop() == 0, limited.text()
        if other is not None:
            assert other.stop() == 0, other.text()

    for run in all_runs:
        final = run_of(admin, run["id"])
        expected = "FAILED" if run["parameters"]["code"] else "COMPLETED"
        assert final["state_type"] == expected, final
        if expected == "FAILED":
            assert "exited with code 1" in final["state"]["message"]
        assert final["start_time"] is not None and final["infrastructure_pid"]
    # What really executed: every run once, never more than 3 at a time, never
    # more than 2 under the limited worker, and both workers took part.
    started = sorted(e["run"] for e in script.events() if e["event"] == "start")
    assert started == sorted(r["id"] for r in all_runs)
    assert script.max_overlap() == 3
    assert script.max_overlap(worker=limited.pid) == 2
    assert {e["worker"] for e in script.events()} == {limited.pid, other.pid}
    assert ok(admin.get("/work_pools/proc"))["active_slots"] == 0
    # Claims lost to the other worker or to the pool's limit are routine, not problems.
    for log in (limited.text(), other.text()):
        assert " WARNING " not in log and " ERROR " not in log, log


def test_cancelling_a_sleeping_run_kills_its_process(secured: Env, tmp_path: Path):
    token, script, deployment = setup_pool(secured, tmp_path, limit=None)
    admin = secured.as_(secured.token("admin"))
    run = make_run(admin, deployment["id"], parameters={"seconds": 60})
    worker = WorkerProcess(secured, token, ["--pool", "proc"], tmp_path / "w.log")
    try:
        running = wait_for(lambda: (r := run_of(admin, run["id"]))["state_type"] == "RUNNING" and r)
        pid = int(running["infrastructure_pid"].split(":")[0])
        os.kill(pid, 0)  # alive
        cancel = admin.post(
            f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "CANCELLING"}}
        )
        assert cancel.json()["status"] == "ACCEPT"
        ended = wait_for(
            lambda: (
                (r := run_of(admin, run["id"]))["state_type"]
                in ("CANCELLED", "FAILED", "CRASHED", "COMPLETED")
                and r
            )
        )
        assert ended["state_type"] == "CANCELLED", ended
        assert not _alive(pid)
        assert [e["event"] for e in script.events()] == ["start"]  # it never got to the end
    finally:
        assert worker.stop() == 0, worker.text()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_run_that_reports_its_own_final_state_keeps_it_when_it_exits_0(
    secured: Env, tmp_path: Path
):
    token, _, deployment = setup_pool(secured, tmp_path, limit=None)
    admin = secured.as_(secured.token("admin"))
    run = make_run(admin, deployment["id"], parameters={"report": "FAILED", "code": 0})
    worker = WorkerProcess(secured, token, ["--pool", "proc", "--run-once"], tmp_path / "w.log")
    assert worker.wait() == 0, worker.text()
    final = run_of(admin, run["id"])
    assert (final["state_type"], final["state"]["message"]) == ("FAILED", "reported by the flow")


def test_a_process_killed_by_a_signal_crashes_its_run(secured: Env, tmp_path: Path):
    token, _, deployment = setup_pool(secured, tmp_path, limit=None)
    admin = secured.as_(secured.token("admin"))
    run = make_run(admin, deployment["id"], parameters={"seconds": 60})
    worker = WorkerProcess(secured, token, ["--pool", "proc"], tmp_path / "w.log")
    try:
        running = wait_for(lambda: (r := run_of(admin, run["id"]))["state_type"] == "RUNNING" and r)
        os.kill(int(running["infrastructure_pid"].split(":")[0]), signal.SIGKILL)
        crashed = wait_for(lambda: (r := run_of(admin, run["id"]))["end_time"] and r)
        assert crashed["state_type"] == "CRASHED"
        assert "SIGKILL" in crashed["state"]["message"]
        assert ok(admin.get("/work_pools/proc"))["active_slots"] == 0
    finally:
        assert worker.stop() == 0, worker.text()


def test_a_run_claimed_ahead_starts_at_its_scheduled_time(secured: Env, tmp_path: Path):
    """Issue 13, fault 5: a worker claiming 10 s ahead spawned the process at
    once, 5-10 s early; it now waits for the scheduled time (+-1 s)."""
    token, script, deployment = setup_pool(secured, tmp_path, limit=None)
    admin = secured.as_(secured.token("admin"))
    due = datetime.now(UTC) + timedelta(seconds=6)
    run = make_run(admin, deployment["id"], at=due)
    worker = WorkerProcess(
        secured, token, ["--pool", "proc", "--prefetch-seconds", "10"], tmp_path / "w.log"
    )
    try:
        wait_for(lambda: run_of(admin, run["id"])["state_type"] == "PENDING")
        assert time.time() < due.timestamp() - 1  # claimed well ahead
        wait_for(lambda: run_of(admin, run["id"])["state_type"] == "COMPLETED")
    finally:
        assert worker.stop() == 0, worker.text()
    started = next(e["t"] for e in script.events() if e["event"] == "start")
    assert due.timestamp() - 1 <= started <= due.timestamp() + 2, started - due.timestamp()
