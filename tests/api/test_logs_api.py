"""``POST /logs/`` and ``POST /logs/filter``: a run's lines in, the same lines out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import providers.registry
from core.errors import InfrastructureError
from core.logs import MAX_BATCH_LINES, MAX_MESSAGE_CHARS
from core.services.auth import run_token
from core.states import StateType, new_state
from tests.api.support import Env, make_deployment, make_pool, make_run, ok

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def line(run_id: str, i: int, **extra) -> dict:
    stamp = (T0 + timedelta(seconds=i)).isoformat()
    return {"flow_run_id": run_id, "timestamp": stamp, "message": f"line {i}", "seq": i, **extra}


def a_run(env: Env, pool: str = "p") -> dict:
    make_pool(env.http, pool)
    return make_run(env.http, make_deployment(env.http, pool, name=f"dep-{pool}")["id"])


def read(http, run_id: str, **body) -> list[dict]:
    where = {"logs": {"flow_run_id": {"any_": [run_id]}}, **body}
    return ok(http.post("/logs/filter", json=where))


def test_lines_written_in_batches_read_back_in_time_order_with_a_cursor(env: Env):
    run = a_run(env)["id"]
    assert env.http.post("/logs/", json=[line(run, i) for i in range(5, 10)]).status_code == 201
    assert env.http.post("/logs/", json=[line(run, i) for i in range(5)]).status_code == 201

    first = read(env.http, run, limit=4)
    assert [x["message"] for x in first] == [f"line {i}" for i in range(4)]
    assert first[0]["flow_run_id"] == run and first[0]["level"] == 20
    rest = read(env.http, run, after_key=first[-1]["key"])
    assert [x["message"] for x in rest] == [f"line {i}" for i in range(4, 10)]
    tail = read(env.http, run, sort="TIMESTAMP_DESC", limit=2)
    assert [x["message"] for x in tail] == ["line 9", "line 8"]
    since = read(env.http, run, logs={"flow_run_id": {"any_": [run]}, "timestamp": {
        "after_": (T0 + timedelta(seconds=7)).isoformat()}})  # fmt: skip
    assert [x["message"] for x in since] == ["line 7", "line 8", "line 9"]


def test_a_retried_batch_is_stored_once(env: Env):
    run = a_run(env)["id"]
    batch = [line(run, i) for i in range(3)]
    for _ in range(3):
        ok(env.http.post("/logs/", json=batch), 201)
    assert len(read(env.http, run)) == 3


def test_bad_batches_are_refused_whole_and_say_what_to_fix(env: Env):
    run = a_run(env)["id"]
    cases = [
        ([line("no-such-run", 0)], 404, "no-such-run"),
        ([line(run, 0), line("no-such-run", 1)], 404, "no-such-run"),
        ([line(run, 0, colour="red")], 422, "colour: unknown key"),
        ([{**line(run, 0), "timestamp": "2026-03-01T09:00:00"}], 422, "timezone"),
        ([line(run, 0, message="x" * (MAX_MESSAGE_CHARS + 1))], 422, "message"),
        ([line(run, 0, level=1000)], 422, "level"),
        ([line(run, i) for i in range(MAX_BATCH_LINES + 1)], 422, "at most"),
        ({"flow_run_id": run}, 422, ""),
    ]
    for body, status, words in cases:
        response = env.http.post("/logs/", json=body)
        assert response.status_code == status, (body if status != 422 else words, response.text)
        assert words.lower() in response.json()["detail"].lower()
    assert read(env.http, run) == []


def test_filters_that_name_no_single_run_are_refused(env: Env):
    run = a_run(env)["id"]
    for where in [
        {"logs": {"flow_run_id": {"any_": []}}},
        {"logs": {"flow_run_id": {"any_": [run, run]}}},
        {"logs": {"flow_run_id": {}}},
        {"logs": {"flow_run_id": {"any_": [run]}}, "limit": 100000},
        {"logs": {"flow_run_id": {"any_": [run]}}, "sort": "LEVEL_DESC"},
    ]:
        response = env.http.post("/logs/filter", json=where)
        assert response.status_code == 422, (where, response.text)
    response = env.http.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": ["nope"]}}})
    assert response.status_code == 404


def test_a_run_token_writes_and_reads_its_own_run_only_and_a_worker_its_pool(secured: Env):
    admin = secured.as_(secured.token("admin"))
    make_pool(admin, "p")
    make_pool(admin, "q")
    mine = make_run(admin, make_deployment(admin, "p", name="a")["id"])["id"]
    other = make_run(admin, make_deployment(admin, "q", name="b")["id"])["id"]
    as_run = secured.as_(run_token(mine, key=b"k" * 32))
    as_worker = secured.as_(secured.token("worker", pool_name="p"))

    ok(as_run.post("/logs/", json=[line(mine, 0)]), 201)
    ok(as_worker.post("/logs/", json=[line(mine, 1)]), 201)
    assert as_run.post("/logs/", json=[line(other, 0)]).status_code == 403
    assert as_worker.post("/logs/", json=[line(mine, 2), line(other, 0)]).status_code == 403
    assert as_worker.post("/logs/filter", json={
        "logs": {"flow_run_id": {"any_": [other]}}}).status_code == 403  # fmt: skip
    assert secured.http.post("/logs/", json=[line(mine, 3)]).status_code == 401

    assert [x["message"] for x in read(as_run, mine)] == ["line 0", "line 1"]
    assert read(admin, other) == []


def test_a_push_run_whose_provider_cannot_load_here_answers_its_stored_lines(
    env: Env, monkeypatch, caplog
):
    make_pool(env.http, "cr", type="cloud-run-v2:push")
    run = make_run(env.http, make_deployment(env.http, "cr", name="d",
        job_variables={"project": "p", "image": "i"})["id"])["id"]  # fmt: skip
    stored = env.store.get_run(run)
    claimed = env.store.claim(
        stored,
        state=new_state(StateType.PENDING, at=env.clock()),
        lease_expires=env.clock(),
    )
    env.store.mark_submitted(claimed, infrastructure_pid="projects/p/locations/l/jobs/j/executions/e",
                             at=env.clock())  # fmt: skip
    ok(env.http.post("/logs/", json=[line(run, 0)]), 201)

    def no_sdk(pool_type, **_):
        raise InfrastructureError("needs 'google', which is not installed", retryable=False)

    monkeypatch.setattr(providers.registry, "load_provider", no_sdk)
    with caplog.at_level("WARNING", logger="pushpool.api.logs"):
        assert [x["message"] for x in read(env.http, run)] == ["line 0"]
    assert any("not copied here" in r.getMessage() for r in caplog.records)
