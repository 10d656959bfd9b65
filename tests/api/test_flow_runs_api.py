"""Flow runs over HTTP: creation, orchestration (the claim), filters, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.support import Env, make_deployment, make_pool, make_queue, make_run, ok, propose

TEMPLATE = {
    "job_configuration": {"command": "{{ command }}", "memory": "{{ memory }}"},
    "variables": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "memory": {"type": "integer", "maximum": 64}},
    },
}


def setup(env: Env, **pool: object) -> dict:
    make_pool(env.http, "p", **pool)
    return make_deployment(env.http, "p", parameters={"a": 1, "b": 2})


def test_create_flow_run_is_scheduled_with_its_time_and_merged_parameters(env: Env):
    deployment = setup(env)
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    run = make_run(env.http, deployment["id"], at=when, name="my-run", parameters={"b": 3})
    assert (run["name"], run["state_type"], run["state_name"]) == (
        "my-run",
        "SCHEDULED",
        "Scheduled",
    )
    assert run["state"]["state_details"]["scheduled_time"] == "2030-01-02T03:04:05Z"
    assert run["next_scheduled_start_time"] == "2030-01-02T03:04:05Z"
    assert run["parameters"] == {"a": 1, "b": 3}
    assert (run["work_pool_name"], run["work_queue_name"], run["deployment_id"]) == (
        "p", "default", deployment["id"],
    )  # fmt: skip
    assert ok(env.http.get(f"/flow_runs/{run['id']}"))["id"] == run["id"]


def test_runs_get_readable_names_and_default_to_now(env: Env):
    deployment = setup(env)
    run = ok(env.http.post(f"/deployments/{deployment['id']}/create_flow_run", json={}), 201)
    assert "-" in run["name"]
    due = datetime.fromisoformat(run["next_scheduled_start_time"])
    assert abs((due - env.clock()).total_seconds()) < 5


def test_runs_are_created_scheduled_only(env: Env):
    deployment = setup(env)
    response = env.http.post(
        f"/deployments/{deployment['id']}/create_flow_run", json={"state": {"type": "RUNNING"}}
    )
    assert response.status_code == 422
    assert "SCHEDULED" in response.json()["detail"]


def test_run_job_variables_are_validated(env: Env):
    deployment = setup(env, base_job_template=TEMPLATE)
    path = f"/deployments/{deployment['id']}/create_flow_run"
    assert env.http.post(path, json={"job_variables": {"memory": 128}}).status_code == 422
    assert env.http.post(path, json={"job_variables": {"disk": 1}}).status_code == 422
    assert ok(env.http.post("/flow_runs/filter", json={})) == []
    assert ok(env.http.post(path, json={"job_variables": {"memory": 32}}), 201)[
        "job_variables"
    ] == {"memory": 32}


def test_an_idempotency_key_returns_the_first_run(env: Env):
    deployment = setup(env)
    path = f"/deployments/{deployment['id']}/create_flow_run"
    first = env.http.post(path, json={"idempotency_key": "k1"})
    again = env.http.post(path, json={"idempotency_key": "k1"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]


def test_a_run_can_name_another_existing_queue_of_its_pool(env: Env):
    deployment = setup(env)
    make_queue(env.http, "p", "adhoc")
    run = make_run(env.http, deployment["id"], queue="adhoc")
    assert run["work_queue_name"] == "adhoc"


def test_a_run_naming_a_missing_queue_is_refused_and_creates_nothing(env: Env):
    """A typo'd queue would have no limit: the run would escape them (issue 14)."""
    deployment = setup(env)
    response = env.http.post(
        f"/deployments/{deployment['id']}/create_flow_run", json={"work_queue_name": "reallynot"}
    )
    assert response.status_code == 422, response.text
    assert "no queue 'reallynot'" in response.json()["detail"]
    assert "its queues are: default" in response.json()["detail"]
    assert env.http.get("/work_pools/p/queues/reallynot").status_code == 404
    assert ok(env.http.post("/flow_runs/filter", json={})) == []


def test_unknown_deployments_and_runs_are_404(env: Env):
    assert env.http.post("/deployments/nope/create_flow_run", json={}).status_code == 404
    assert env.http.get("/flow_runs/nope").status_code == 404
    response = env.http.post("/flow_runs/nope/set_state", json={"state": {"type": "RUNNING"}})
    assert response.status_code == 404


def test_proposing_pending_is_the_claim_and_a_second_claim_aborts(env: Env):
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    first = propose(env.http, run["id"], "PENDING")
    assert (first["status"], first["state"]["type"], first["details"]["type"]) == (
        "ACCEPT", "PENDING", "accept_details",
    )  # fmt: skip
    second = propose(env.http, run["id"], "PENDING")
    assert (second["status"], second["details"]["type"]) == ("ABORT", "abort_details")
    assert "SCHEDULED" in second["details"]["reason"]
    assert ok(env.http.post("/work_pools/p/concurrency_status", json={}))["active_slots"] == 1


def test_a_full_pool_or_queue_aborts_the_claim_and_changes_nothing(env: Env):
    deployment = setup(env, concurrency_limit=1)
    make_queue(env.http, "p", "one", concurrency_limit=0)
    held, waiting = make_run(env.http, deployment["id"]), make_run(env.http, deployment["id"])
    assert propose(env.http, held["id"], "PENDING")["status"] == "ACCEPT"
    refused = propose(env.http, waiting["id"], "PENDING")
    assert refused["status"] == "ABORT"
    assert "limit" in refused["details"]["reason"] or "full" in refused["details"]["reason"]
    assert ok(env.http.get(f"/flow_runs/{waiting['id']}"))["state_type"] == "SCHEDULED"
    queued = make_run(env.http, deployment["id"], queue="one")
    env.http.patch("/work_pools/p", json={"concurrency_limit": None})
    assert propose(env.http, queued["id"], "PENDING")["status"] == "ABORT"


def test_reaching_a_terminal_state_releases_the_slot(env: Env):
    deployment = setup(env, concurrency_limit=1)
    first, second = make_run(env.http, deployment["id"]), make_run(env.http, deployment["id"])
    propose(env.http, first["id"], "PENDING")
    assert propose(env.http, first["id"], "RUNNING")["status"] == "ACCEPT"
    assert propose(env.http, second["id"], "PENDING")["status"] == "ABORT"
    assert propose(env.http, first["id"], "COMPLETED")["status"] == "ACCEPT"
    assert propose(env.http, second["id"], "PENDING")["status"] == "ACCEPT"
    read = ok(env.http.get(f"/flow_runs/{first['id']}"))
    assert read["start_time"] is not None and read["end_time"] is not None


def test_finished_runs_stay_finished_unless_forced_and_force_is_recorded(env: Env):
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    propose(env.http, run["id"], "PENDING")
    propose(env.http, run["id"], "FAILED")
    refused = propose(env.http, run["id"], "SCHEDULED", name="AwaitingRetry")
    assert refused["status"] == "ABORT"
    forced = propose(env.http, run["id"], "SCHEDULED", name="AwaitingRetry", force=True)
    assert (forced["status"], forced["state"]["name"]) == ("ACCEPT", "AwaitingRetry")
    assert "forced" in forced["state"]["message"]


def test_force_never_bypasses_a_limit(env: Env):
    deployment = setup(env, concurrency_limit=1)
    held, other = make_run(env.http, deployment["id"]), make_run(env.http, deployment["id"])
    propose(env.http, held["id"], "PENDING")
    assert propose(env.http, other["id"], "RUNNING", force=True)["status"] == "ABORT"
    assert propose(env.http, other["id"], "PENDING", force=True)["status"] == "ABORT"
    finished = make_run(env.http, deployment["id"])
    propose(env.http, finished["id"], "CANCELLED")
    env.http.patch("/work_pools/p", json={"concurrency_limit": None})
    # A finished run never takes slots without going back to SCHEDULED first.
    assert propose(env.http, finished["id"], "RUNNING", force=True)["status"] == "ABORT"
    assert ok(env.http.post("/work_pools/p/concurrency_status", json={}))["active_slots"] == 1


def test_running_twice_is_rejected_with_the_current_state(env: Env):
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    propose(env.http, run["id"], "RUNNING")
    again = propose(env.http, run["id"], "RUNNING")
    assert (again["status"], again["details"]["type"], again["state"]["type"]) == (
        "REJECT", "reject_details", "RUNNING",
    )  # fmt: skip


def test_an_invalid_state_name_is_422(env: Env):
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    response = env.http.post(
        f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING", "name": "Late"}}
    )
    assert response.status_code == 422
    assert "Late" in response.json()["detail"]


def test_cancelling_a_waiting_run_ends_it_and_a_running_one_goes_cancelling(env: Env):
    deployment = setup(env)
    waiting, running = make_run(env.http, deployment["id"]), make_run(env.http, deployment["id"])
    propose(env.http, running["id"], "RUNNING")
    assert propose(env.http, waiting["id"], "CANCELLING")["state"]["type"] == "CANCELLED"
    assert propose(env.http, running["id"], "CANCELLING")["state"]["type"] == "CANCELLING"
    assert propose(env.http, running["id"], "RUNNING")["status"] == "ABORT"
    assert propose(env.http, running["id"], "CANCELLED")["status"] == "ACCEPT"
    assert ok(env.http.post("/work_pools/p/concurrency_status", json={}))["active_slots"] == 0


def test_a_worker_reports_the_infrastructure_it_started(env: Env):
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    assert (
        env.http.patch(f"/flow_runs/{run['id']}", json={"infrastructure_pid": "123"}).status_code
        == 409
    )
    propose(env.http, run["id"], "PENDING")
    assert (
        env.http.patch(f"/flow_runs/{run['id']}", json={"infrastructure_pid": "123"}).status_code
        == 204
    )
    assert ok(env.http.get(f"/flow_runs/{run['id']}"))["infrastructure_pid"] == "123"


def test_filter_runs_by_state_pool_queue_deployment_and_id(env: Env):
    deployment = setup(env)
    make_pool(env.http, "other")
    other = make_deployment(env.http, "other", name="o")
    a = make_run(env.http, deployment["id"], at=env.clock() - timedelta(minutes=1))
    make_queue(env.http, "p", "q2")
    b = make_run(env.http, deployment["id"], queue="q2")
    c = make_run(env.http, other["id"])
    propose(env.http, a["id"], "RUNNING")
    ids = lambda body: {r["id"] for r in ok(env.http.post("/flow_runs/filter", json=body))}  # noqa: E731
    assert ids({}) == {a["id"], b["id"], c["id"]}
    assert ids({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}) == {a["id"]}
    assert ids({"work_pools": {"name": {"any_": ["other"]}}}) == {c["id"]}
    assert ids({"work_pool_queues": {"name": {"any_": ["q2"]}}}) == {b["id"]}
    assert ids({"deployments": {"id": {"any_": [other["id"]]}}}) == {c["id"]}
    assert ids({"flow_runs": {"id": {"any_": [b["id"], "nope"]}}}) == {b["id"]}
    assert ok(env.http.post("/flow_runs/count", json={})) == 3
    assert len(ok(env.http.post("/flow_runs/filter", json={"limit": 2}))) == 2


def test_scheduled_runs_for_a_worker_follow_the_waterfall_and_record_the_poll(env: Env):
    deployment = setup(env, concurrency_limit=2)
    make_queue(env.http, "p", "urgent", priority=1)
    now = env.clock()
    late = make_run(env.http, deployment["id"], at=now - timedelta(minutes=5))
    urgent = make_run(env.http, deployment["id"], at=now, queue="urgent")
    make_run(env.http, deployment["id"], at=now - timedelta(minutes=1))
    future = make_run(env.http, deployment["id"], at=now + timedelta(hours=1))
    offered = ok(env.http.post("/work_pools/p/get_scheduled_flow_runs", json={}))
    assert [o["flow_run"]["id"] for o in offered] == [urgent["id"], late["id"]]
    assert {"work_pool_id", "work_queue_id", "flow_run"} <= set(offered[0])
    # Read-only: nothing was claimed; the queues polled are READY now.
    assert ok(env.http.get(f"/flow_runs/{late['id']}"))["state_type"] == "SCHEDULED"
    assert ok(env.http.get("/work_pools/p/queues/default"))["status"] == "READY"
    only_default = {"work_queue_names": ["default"]}
    ids = [
        o["flow_run"]["id"]
        for o in ok(env.http.post("/work_pools/p/get_scheduled_flow_runs", json=only_default))
    ]
    assert ids == [late["id"]]
    ahead = {"scheduled_before": (now + timedelta(hours=2)).isoformat()}
    env.http.patch("/work_pools/p", json={"concurrency_limit": None})
    ids = [
        o["flow_run"]["id"]
        for o in ok(env.http.post("/work_pools/p/get_scheduled_flow_runs", json=ahead))
    ]
    assert ids[-1] == future["id"] and len(ids) == 4
    unknown = env.http.post(
        "/work_pools/p/get_scheduled_flow_runs", json={"work_queue_names": ["nope"]}
    )
    assert unknown.status_code == 404


def test_preview_shows_late_runs_and_why_each_waits(env: Env):
    deployment = setup(env, concurrency_limit=1)
    make_queue(env.http, "p", "paused", is_paused=True)
    now = env.clock()
    first = make_run(env.http, deployment["id"], at=now - timedelta(minutes=2))
    second = make_run(env.http, deployment["id"], at=now - timedelta(minutes=1))
    held = make_run(env.http, deployment["id"], at=now, queue="paused")
    later = make_run(env.http, deployment["id"], at=now + timedelta(minutes=30))
    items = {
        i["flow_run"]["id"]: i
        for i in ok(env.http.post("/work_pools/p/preview", json={"hours": 1}))
    }
    assert items[first["id"]]["released"] is True and items[first["id"]]["late"] is True
    assert items[second["id"]]["reason"] == "pool full"
    assert items[held["id"]]["reason"] == "queue paused"
    assert items[later["id"]]["reason"] == "not yet due"
    env.http.patch("/work_pools/p", json={"is_paused": True})
    items = ok(env.http.post("/work_pools/p/preview", json={"hours": 1}))
    assert {i["reason"] for i in items} == {"pool paused"}


def test_late_runs_policies_are_set_read_and_shown_in_the_preview(env: Env):
    deployment = setup(env)
    assert ok(env.http.get("/work_pools/p"))["late_runs"] is None
    assert env.http.patch("/work_pools/p", json={"late_runs": "skip_after  30M"}).status_code == 204
    assert ok(env.http.get("/work_pools/p"))["late_runs"] == "skip_after 30m"
    now = env.clock()
    stale = make_run(env.http, deployment["id"], at=now - timedelta(hours=2))
    fresh = make_run(env.http, deployment["id"], at=now - timedelta(minutes=5))
    env.http.patch("/work_pools/p", json={"is_paused": True})
    items = {
        i["flow_run"]["id"]: i
        for i in ok(env.http.post("/work_pools/p/preview", json={"hours": 1}))
    }
    assert items[stale["id"]]["reason"].startswith(
        "Skipped by the late-run policy 'skip_after 30m'"
    )
    assert items[fresh["id"]]["reason"] == "pool paused"

    # The deployment's own policy wins; "run" switches skipping off for it.
    assert (
        env.http.patch(f"/deployments/{deployment['id']}", json={"late_runs": "run"}).status_code
        == 204
    )
    assert ok(env.http.get(f"/deployments/{deployment['id']}"))["late_runs"] == "run"
    items = ok(env.http.post("/work_pools/p/preview", json={"hours": 1}))
    assert {i["reason"] for i in items} == {"pool paused"}


def test_a_policy_that_does_not_parse_is_refused_naming_the_forms_and_changes_nothing(env: Env):
    setup(env)
    for bad in ("skip", "skip_after soon", "latest"):
        refused = env.http.patch("/work_pools/p", json={"late_runs": bad})
        assert refused.status_code == 422, refused.text
        assert "skip_after <duration>" in refused.text and "latest_only" in refused.text
    created = env.http.post("/work_pools/", json={"name": "q", "late_runs": "sometimes"})
    assert created.status_code == 422
    assert env.http.get("/work_pools/q").status_code == 404
    assert ok(env.http.get("/work_pools/p"))["late_runs"] is None


def test_a_running_run_is_not_sent_back_to_scheduled_beside_its_live_attempt(env: Env):
    """Issue 13, fault 2: pool limit 1, RUNNING run proposed SCHEDULED; a second
    worker then claimed it while the first process still ran (two live attempts)."""
    deployment = setup(env, concurrency_limit=1)
    run = make_run(env.http, deployment["id"])
    propose(env.http, run["id"], "PENDING")
    propose(env.http, run["id"], "RUNNING")
    for force in (False, True):
        refused = propose(env.http, run["id"], "SCHEDULED", name="AwaitingRetry", force=force)
        assert refused["status"] == "ABORT" and "cancel" in refused["details"]["reason"]
    assert propose(env.http, run["id"], "PENDING")["status"] == "ABORT"  # no second claim
    current = ok(env.http.get(f"/flow_runs/{run['id']}"))
    assert (current["state_type"], current["attempt"]) == ("RUNNING", 1)
    assert ok(env.http.get("/work_pools/p"))["active_slots"] == 1


def test_reports_about_an_old_attempt_never_touch_the_new_one(env: Env):
    """Issue 13, fencing: a worker that lost attempt 1 (its claim was handed back
    and claimed anew) reports late; nothing of it lands on attempt 2."""
    deployment = setup(env)
    run = make_run(env.http, deployment["id"])
    propose(env.http, run["id"], "PENDING")
    propose(env.http, run["id"], "SCHEDULED", name="AwaitingRetry")  # nothing started yet
    claim = {"state": {"type": "PENDING"}, "attempt": 2, "worker_name": "w2"}
    assert ok(env.http.post(f"/flow_runs/{run['id']}/set_state", json=claim), 201)["status"] == (
        "ACCEPT"
    )
    late = env.http.patch(
        f"/flow_runs/{run['id']}", json={"infrastructure_pid": "old", "attempt": 1}
    )
    assert late.status_code == 409 and "attempt 1" in late.json()["detail"]
    stale = {"state": {"type": "RUNNING"}, "attempt": 1}
    answer = ok(env.http.post(f"/flow_runs/{run['id']}/set_state", json=stale))
    assert answer["status"] == "ABORT" and "attempt 1" in answer["details"]["reason"]
    current = ok(env.http.get(f"/flow_runs/{run['id']}"))
    assert (current["state_type"], current["attempt"]) == ("PENDING", 2)
    assert (current["infrastructure_pid"], current["worker_name"]) == (None, "w2")
    fresh = env.http.patch(
        f"/flow_runs/{run['id']}", json={"infrastructure_pid": "new", "attempt": 2}
    )
    assert fresh.status_code == 204
