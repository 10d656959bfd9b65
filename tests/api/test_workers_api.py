"""Worker heartbeats: statuses computed when read, never stored."""

from __future__ import annotations

from tests.api.support import Env, make_pool, ok


def test_a_heartbeat_makes_the_worker_online_and_the_pull_pool_ready(env: Env):
    make_pool(env.http, "p")
    response = env.http.post(
        "/work_pools/p/workers/heartbeat", json={"name": "w1", "heartbeat_interval_seconds": 10}
    )
    assert response.status_code == 204
    [worker] = ok(env.http.post("/work_pools/p/workers/filter", json={}))
    assert (worker["name"], worker["status"], worker["heartbeat_interval_seconds"]) == (
        "w1", "ONLINE", 10,
    )  # fmt: skip
    assert ok(env.http.get("/work_pools/p"))["status"] == "READY"


def test_a_silent_worker_goes_offline_after_three_intervals(env: Env):
    make_pool(env.http, "p")
    env.http.post(
        "/work_pools/p/workers/heartbeat", json={"name": "w1", "heartbeat_interval_seconds": 10}
    )
    env.clock.advance(seconds=31)
    [worker] = ok(env.http.post("/work_pools/p/workers/filter", json={}))
    assert worker["status"] == "OFFLINE"
    assert ok(env.http.get("/work_pools/p"))["status"] == "NOT_READY"
    online = {"workers": {"status": {"any_": ["ONLINE"]}}}
    assert ok(env.http.post("/work_pools/p/workers/filter", json=online)) == []


def test_heartbeats_keep_one_worker_per_name(env: Env):
    make_pool(env.http, "p")
    for _ in range(3):
        env.http.post("/work_pools/p/workers/heartbeat", json={"name": "w1"})
    assert len(ok(env.http.post("/work_pools/p/workers/filter", json={}))) == 1


def test_a_worker_can_be_deleted(env: Env):
    make_pool(env.http, "p")
    env.http.post("/work_pools/p/workers/heartbeat", json={"name": "w1"})
    assert env.http.delete("/work_pools/p/workers/w1").status_code == 204
    assert ok(env.http.post("/work_pools/p/workers/filter", json={})) == []


def test_heartbeats_to_unknown_pools_are_404_and_bad_input_422(env: Env):
    assert (
        env.http.post("/work_pools/ghost/workers/heartbeat", json={"name": "w"}).status_code == 404
    )
    make_pool(env.http, "p")
    assert env.http.post("/work_pools/p/workers/heartbeat", json={"name": " "}).status_code == 422
    assert env.http.post("/work_pools/p/workers/heartbeat", json={}).status_code == 422


def test_a_push_pool_needs_no_worker_and_is_not_ready_only_while_dispatch_fails(env: Env):
    make_pool(env.http, "push", type="ecs:push")
    assert ok(env.http.get("/work_pools/push"))["status"] == "READY"
    pool = env.store.get_pool("push")
    env.store.record_dispatch_problem(pool.id, "AccessDenied: ecs:RunTask")
    failing = ok(env.http.get("/work_pools/push"))
    assert failing["status"] == "NOT_READY"
    assert "AccessDenied: ecs:RunTask" in failing["status_reason"]
    env.store.record_dispatch_problem(pool.id, None)
    assert ok(env.http.get("/work_pools/push"))["status"] == "READY"
