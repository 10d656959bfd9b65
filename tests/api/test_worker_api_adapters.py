"""The worker's API port (``handlers.worker.api.WorkerApi``), both adapters.

``pushpool.Client`` (HTTP with a worker token, what ``pushpool worker
start`` holds) and ``InProcessApi`` (``pushpool server --with-worker``) run
the same scenario on a real SQLite store behind a live API, and answer the
same reads and the same refusals, status and detail alike: the worker cannot
tell which one it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.errors import Transient
from handlers.local.worker_api import InProcessApi
from handlers.worker.api import WorkerApi
from handlers.worker.starter import transient
from pushpool.client import ApiError, Client
from tests.api.support import (
    Env,
    LiveApi,
    make_deployment,
    make_env,
    make_pool,
    make_run,
    start_api,
)

ADAPTERS = ("http", "in-process")


@pytest.fixture(scope="module")
def api() -> Iterator[LiveApi]:
    yield from start_api()


@pytest.fixture
def env(api: LiveApi, tmp_path: Path) -> Env:
    env = make_env(api, tmp_path, auth=True)
    env.http = env.as_(env.token("admin"))
    make_pool(env.http, "mine")
    make_pool(env.http, "other")
    return env


def adapter(kind: str, env: Env, pool: str = "mine") -> WorkerApi:
    if kind == "http":
        return Client(env.api.url, api_key=env.token("worker", pool_name=pool))
    return InProcessApi(env.container, pool)


def refusal(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.status, caught.value.detail


@pytest.mark.parametrize("kind", ADAPTERS)
def test_a_worker_claims_starts_and_reports_a_run_through_either_adapter(kind: str, env: Env):
    deployment = make_deployment(env.http, "mine", job_variables={"command": "true"})
    run = make_run(env.http, deployment["id"])
    worker = adapter(kind, env)

    worker.heartbeat("mine", "w1", interval_seconds=30)
    offered = worker.get_scheduled_flow_runs(
        "mine", scheduled_before=datetime.now(UTC) + timedelta(seconds=1), limit=5
    )
    assert [o["flow_run"]["id"] for o in offered] == [run["id"]]
    claim = worker.set_state(run["id"], "PENDING", message="claim", attempt=1, worker_name="w1")
    again = worker.set_state(run["id"], "PENDING", message="claim", attempt=1, worker_name="w2")
    job = worker.read_job(run["id"])
    worker.report_infrastructure(run["id"], "pid-42", attempt=1)
    running = worker.set_state(run["id"], "RUNNING", message="running", attempt=1)
    line = {"flow_run_id": run["id"], "timestamp": datetime.now(UTC).isoformat(), "message": "hi"}
    worker.write_logs([line])

    assert (claim["status"], again["status"], running["status"]) == ("ACCEPT", "ABORT", "ACCEPT")
    assert (job["flow_run_id"], job["attempt"], job["work_pool_name"]) == (run["id"], 1, "mine")
    [read] = worker.read_runs([run["id"]])
    assert (read["state_type"], read["infrastructure_pid"]) == ("RUNNING", "pid-42")
    assert read["worker_name"] == "w1"
    [held] = worker.list_runs(
        work_pools={"name": {"any_": ["mine"]}},
        flow_runs={"state": {"type": {"any_": ["RUNNING"]}}},
    )
    assert held["id"] == run["id"]
    assert [w["name"] for w in env.http.post("/work_pools/mine/workers/filter").json()] == ["w1"]
    logged = env.http.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    assert [entry["message"] for entry in logged.json()] == ["hi"]


def test_both_adapters_answer_the_same_shapes(env: Env):
    deployment = make_deployment(env.http, "mine", job_variables={"command": "true"})
    run = make_run(env.http, deployment["id"])
    http, local = adapter("http", env), adapter("in-process", env)
    before = datetime.now(UTC) + timedelta(seconds=1)
    assert http.get_scheduled_flow_runs("mine", scheduled_before=before) == (
        local.get_scheduled_flow_runs("mine", scheduled_before=before)
    )
    assert http.read_pool("mine") == local.read_pool("mine")
    assert http.read_queue("mine", "default") == local.read_queue("mine", "default")
    assert local.set_state(run["id"], "PENDING", attempt=1, worker_name="w")["status"] == "ACCEPT"
    assert http.read_job(run["id"]) == local.read_job(run["id"])
    assert http.read_runs([run["id"]]) == local.read_runs([run["id"]])
    everyone = {"work_pools": {"name": {"any_": ["mine", "other"]}}}
    assert http.list_runs(**everyone) == local.list_runs(**everyone)
    refused = local.set_state(run["id"], "PENDING", attempt=1, worker_name="x")
    assert refused == http.set_state(run["id"], "PENDING", attempt=1, worker_name="x")
    assert refused["status"] != "ACCEPT"


def test_both_adapters_refuse_alike_with_the_worker_tokens_rights(env: Env):
    """Another pool, admin-only calls, a missing or unclaimed run, bad arguments:
    the same status and detail, and nothing changed."""
    theirs = make_run(env.http, make_deployment(env.http, "other")["id"])
    unclaimed = make_run(env.http, make_deployment(env.http, "mine", name="d2")["id"])
    late = datetime(1800, 1, 1, tzinfo=UTC)
    cases: dict[str, Callable[[WorkerApi], Any]] = {
        "read another pool": lambda w: w.read_pool("other"),
        "create a pool": lambda w: w.create_pool(name="new", type="process"),
        "create a queue": lambda w: w.create_queue("mine", name="q"),
        "read a missing queue": lambda w: w.read_queue("mine", "nope"),
        "poll another pool": lambda w: w.get_scheduled_flow_runs("other"),
        "poll with a negative limit": lambda w: w.get_scheduled_flow_runs("mine", limit=-1),
        "poll before 1900": lambda w: w.get_scheduled_flow_runs("mine", scheduled_before=late),
        "heartbeat every 0 s": lambda w: w.heartbeat("mine", "w", interval_seconds=0),
        "claim another pool's run": lambda w: w.set_state(theirs["id"], "PENDING", attempt=1),
        "propose an unknown state": lambda w: w.set_state(unclaimed["id"], "DONE"),
        "claim a missing run": lambda w: w.set_state("no-such-run", "PENDING"),
        "read an unclaimed run's job": lambda w: w.read_job(unclaimed["id"]),
        "report another pool's run": lambda w: w.report_infrastructure(theirs["id"], "pid"),
        "log for another pool's run": lambda w: w.write_logs(
            [{"flow_run_id": theirs["id"], "timestamp": "2026-01-01T00:00:00Z", "message": "x"}]
        ),
        "log without a zone": lambda w: w.write_logs(
            [{"flow_run_id": unclaimed["id"], "timestamp": "2026-01-01T00:00:00", "message": "x"}]
        ),
    }
    http, local = adapter("http", env), adapter("in-process", env)
    for what, call in cases.items():
        over_http = refusal(lambda call=call: call(http))
        assert refusal(lambda call=call: call(local)) == over_http, what
        assert over_http[0] in (403, 404, 409, 422), (what, over_http)
    assert local.list_runs(work_pools={"name": {"any_": ["other"]}}) == []
    pools = env.http.post("/work_pools/filter").json()
    assert sorted(p["name"] for p in pools) == ["mine", "other"]
    assert env.http.get(f"/flow_runs/{theirs['id']}").json()["state_type"] == "SCHEDULED"
    assert env.http.get(f"/flow_runs/{unclaimed['id']}").json()["state_type"] == "SCHEDULED"


@pytest.mark.parametrize(
    ("failure", "answer"),
    [
        (RuntimeError("a bug"), (500, "internal error; the server log has the details")),
        (Transient("the store is busy; retry"), (503, "the store is busy; retry")),
    ],
)
def test_a_store_failure_is_the_status_the_worker_retries_on_not_a_traceback(
    env: Env, monkeypatch: pytest.MonkeyPatch, failure: Exception, answer: tuple[int, str]
):
    local = InProcessApi(env.container, "mine")

    def broken(*_: Any, **__: Any) -> Any:
        raise failure

    monkeypatch.setattr(env.container.store, "get_pool", broken)
    assert refusal(lambda: local.read_pool("mine")) == answer
    assert transient(ApiError(*answer))


def test_a_pool_name_with_spaces_and_accents_reaches_the_same_pool_through_both(env: Env):
    """The HTTP client quotes path segments and the routes unquote them; the
    in-process adapter passes the name as it is."""
    odd = "nächtliche läufe #1"
    make_pool(env.http, odd)
    run = make_run(env.http, make_deployment(env.http, odd, name="odd")["id"])
    http, local = adapter("http", env, odd), adapter("in-process", env, odd)

    assert http.read_pool(odd) == local.read_pool(odd)
    [offered] = local.get_scheduled_flow_runs(odd)
    assert offered["flow_run"]["id"] == run["id"]
    local.heartbeat(odd, "w")
    assert local.set_state(run["id"], "PENDING", attempt=1, worker_name="w")["status"] == "ACCEPT"
    assert http.read_job(run["id"]) == local.read_job(run["id"])
    assert refusal(lambda: local.read_pool("mine"))[0] == 403
