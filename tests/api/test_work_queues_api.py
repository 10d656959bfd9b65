"""Work queues over HTTP: priorities stay unique, the default queue stays."""

from __future__ import annotations

from tests.api.support import Env, make_pool, make_queue, ok


def priorities(env: Env, pool: str = "p") -> list[tuple[str, int]]:
    queues = ok(env.http.post(f"/work_pools/{pool}/queues/filter", json={}))
    return [(q["name"], q["priority"]) for q in queues]


def test_a_queue_without_priority_takes_the_first_gap(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "five", priority=5)
    created = make_queue(env.http, "p", "next")
    assert created["priority"] == 2
    assert created["work_pool_name"] == "p"
    assert priorities(env) == [("default", 1), ("next", 2), ("five", 5)]


def test_a_taken_priority_inserts_before_and_shifts_only_as_needed(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "b", priority=2)
    make_queue(env.http, "p", "c", priority=3)
    make_queue(env.http, "p", "far", priority=9)
    make_queue(env.http, "p", "urgent", priority=1)
    assert priorities(env) == [("urgent", 1), ("default", 2), ("b", 3), ("c", 4), ("far", 9)]


def test_updating_priority_reshuffles_the_pool(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "low", priority=2)
    assert env.http.patch("/work_pools/p/queues/low", json={"priority": 1}).status_code == 204
    assert priorities(env) == [("low", 1), ("default", 2)]


def test_queue_fields_and_status(env: Env):
    make_pool(env.http, "p")
    created = make_queue(
        env.http, "p", "q", concurrency_limit=3, description="batch", is_paused=True
    )
    assert {
        "id", "name", "description", "is_paused", "concurrency_limit", "priority",
        "work_pool_id", "work_pool_name", "last_polled", "status",
    } <= set(created)  # fmt: skip
    assert (created["status"], created["concurrency_limit"], created["description"]) == (
        "PAUSED", 3, "batch",
    )  # fmt: skip
    env.http.patch("/work_pools/p/queues/q", json={"is_paused": False, "concurrency_limit": None})
    queue = ok(env.http.get("/work_pools/p/queues/q"))
    assert (queue["status"], queue["concurrency_limit"]) == ("NOT_READY", None)


def test_renaming_a_queue_onto_another_name_conflicts(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "a")
    response = env.http.patch("/work_pools/p/queues/a", json={"name": "default"})
    assert response.status_code == 409
    assert env.http.patch("/work_pools/p/queues/a", json={"name": "b"}).status_code == 204
    assert [n for n, _ in priorities(env)] == ["default", "b"]


def test_duplicate_queue_names_conflict(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "q")
    response = env.http.post("/work_pools/p/queues", json={"name": "q"})
    assert response.status_code == 409
    assert "already has a queue" in response.json()["detail"]


def test_the_default_queue_cannot_be_deleted(env: Env):
    make_pool(env.http, "p")
    response = env.http.delete("/work_pools/p/queues/default")
    assert response.status_code == 409
    assert "default queue" in response.json()["detail"]
    assert priorities(env) == [("default", 1)]


def test_other_queues_can_be_deleted(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "q")
    assert env.http.delete("/work_pools/p/queues/q").status_code == 204
    assert env.http.get("/work_pools/p/queues/q").status_code == 404


def test_queue_routes_of_unknown_pools_and_queues_are_404(env: Env):
    assert env.http.post("/work_pools/ghost/queues", json={"name": "q"}).status_code == 404
    make_pool(env.http, "p")
    assert env.http.get("/work_pools/p/queues/ghost").status_code == 404
    assert env.http.patch("/work_pools/p/queues/ghost", json={"priority": 2}).status_code == 404
    assert env.http.delete("/work_pools/p/queues/ghost").status_code == 404


def test_invalid_queue_input_is_422(env: Env):
    make_pool(env.http, "p")
    for body in (
        {"name": "q", "priority": 0},
        {"name": "q", "concurrency_limit": -2},
        {"name": "a/b"},
    ):
        assert env.http.post("/work_pools/p/queues", json=body).status_code == 422, body
    assert priorities(env) == [("default", 1)]


def test_filter_queues_by_name(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "a")
    make_queue(env.http, "p", "b")
    body = {"work_queues": {"name": {"any_": ["b"]}}}
    assert [q["name"] for q in ok(env.http.post("/work_pools/p/queues/filter", json=body))] == ["b"]
