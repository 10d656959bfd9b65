"""Work pools over HTTP: Prefect's paths, shapes and status codes."""

from __future__ import annotations

from datetime import timedelta

from tests.api.support import Env, make_deployment, make_pool, make_queue, make_run, ok

PROCESS_TEMPLATE = {
    "job_configuration": {"command": "{{ command }}", "env": "{{ env }}"},
    "variables": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "env": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
}


def test_creating_a_pool_answers_201_with_prefects_work_pool_shape(env: Env):
    pool = make_pool(env.http, "my-pool", description="nightly", concurrency_limit=3)
    assert {
        "id", "created", "updated", "name", "description", "type", "base_job_template",
        "is_paused", "concurrency_limit", "status", "default_queue_id",
    } <= set(pool)  # fmt: skip
    assert pool["name"] == "my-pool"
    assert pool["type"] == "process"
    assert pool["concurrency_limit"] == 3
    assert pool["status"] == "NOT_READY"  # a pull pool with no worker yet
    assert pool["active_slots"] == 0
    queues = ok(env.http.post("/work_pools/my-pool/queues/filter", json={}))
    assert [(q["name"], q["priority"], q["id"]) for q in queues] == [
        ("default", 1, pool["default_queue_id"])
    ]


def test_an_empty_template_is_replaced_by_the_types_default(env: Env):
    pool = make_pool(env.http, "p", base_job_template={})
    default = env.container.types.default_template("process")
    assert pool["base_job_template"] == default
    assert "command" in pool["base_job_template"]["variables"]["properties"]


def test_a_given_template_is_stored_as_given(env: Env):
    pool = make_pool(env.http, "p", base_job_template=PROCESS_TEMPLATE)
    assert pool["base_job_template"] == PROCESS_TEMPLATE


def test_a_template_with_an_undeclared_placeholder_is_refused_on_create_and_update(env: Env):
    broken = {
        "job_configuration": {"command": "{{ command }} {{ nope }}"},
        "variables": {"type": "object", "properties": {"command": {"type": "string"}}},
    }
    response = env.http.post(
        "/work_pools/", json={"name": "p", "type": "process", "base_job_template": broken}
    )
    assert response.status_code == 422
    assert "nope" in response.json()["detail"]
    assert env.http.get("/work_pools/p").status_code == 404

    make_pool(env.http, "p")
    response = env.http.patch("/work_pools/p", json={"base_job_template": broken})
    assert response.status_code == 422
    assert "nope" in response.json()["detail"]
    assert (
        ok(env.http.get("/work_pools/p"))["base_job_template"]["job_configuration"]
        != broken["job_configuration"]
    )


def test_duplicate_names_conflict(env: Env):
    make_pool(env.http, "p")
    response = env.http.post("/work_pools/", json={"name": "p", "type": "process"})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]


def test_names_starting_with_prefect_are_reserved_in_any_case(env: Env):
    for name in ("prefect", "Prefect-managed", "PREFECTx"):
        response = env.http.post("/work_pools/", json={"name": name, "type": "process"})
        assert response.status_code == 403, name
        assert "reserved" in response.json()["detail"]


def test_bad_names_say_what_to_fix(env: Env):
    for name, needle in [("a/b", "/"), ("50%", "%"), ("  ''  ", "empty"), ("x>y", ">")]:
        response = env.http.post("/work_pools/", json={"name": name, "type": "process"})
        assert response.status_code == 422, name
        assert needle in response.json()["detail"], response.json()


def test_names_are_stripped_of_quotes_and_spaces(env: Env):
    pool = make_pool(env.http, "  'quoted'  ")
    assert pool["name"] == "quoted"


def test_unknown_types_list_the_valid_ones(env: Env):
    response = env.http.post("/work_pools/", json={"name": "p", "type": "lambda"})
    assert response.status_code == 422
    assert "ecs:push" in response.json()["detail"]


def test_reading_an_unknown_pool_is_404(env: Env):
    response = env.http.get("/work_pools/ghost")
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


def test_names_with_spaces_travel_url_encoded(env: Env):
    make_pool(env.http, "my pool")
    assert ok(env.http.get("/work_pools/my%20pool"))["name"] == "my pool"


def test_filter_by_name_and_type_with_offset_and_limit(env: Env):
    make_pool(env.http, "a")
    make_pool(env.http, "b")
    make_pool(env.http, "c", type="ecs:push")
    names = lambda body: [p["name"] for p in ok(env.http.post("/work_pools/filter", json=body))]  # noqa: E731
    assert names({}) == ["a", "b", "c"]
    assert names({"work_pools": {"name": {"any_": ["b", "c"]}}}) == ["b", "c"]
    assert names({"work_pools": {"type": {"any_": ["ecs:push"]}}}) == ["c"]
    assert names({"offset": 1, "limit": 1}) == ["b"]
    assert ok(env.http.post("/work_pools/count", json={})) == 3


def test_patch_answers_204_and_changes_only_named_fields(env: Env):
    make_pool(env.http, "p", description="keep me", concurrency_limit=4)
    response = env.http.patch("/work_pools/p", json={"is_paused": True})
    assert response.status_code == 204
    pool = ok(env.http.get("/work_pools/p"))
    assert (pool["is_paused"], pool["status"], pool["description"], pool["concurrency_limit"]) == (
        True, "PAUSED", "keep me", 4,
    )  # fmt: skip
    assert env.http.patch("/work_pools/p", json={"concurrency_limit": None}).status_code == 204
    assert ok(env.http.get("/work_pools/p"))["concurrency_limit"] is None


def test_the_type_cannot_be_changed(env: Env):
    make_pool(env.http, "p")
    response = env.http.patch("/work_pools/p", json={"type": "docker"})
    assert response.status_code == 422
    assert ok(env.http.get("/work_pools/p"))["type"] == "process"


def test_a_negative_limit_is_refused_and_changes_nothing(env: Env):
    make_pool(env.http, "p", concurrency_limit=2)
    response = env.http.patch("/work_pools/p", json={"concurrency_limit": -1})
    assert response.status_code == 422
    assert "concurrency_limit" in response.json()["detail"]
    assert ok(env.http.get("/work_pools/p"))["concurrency_limit"] == 2


def test_deleting_a_pool_removes_its_queues_workers_and_scheduled_runs(env: Env):
    make_pool(env.http, "p")
    make_queue(env.http, "p", "high")
    env.http.post("/work_pools/p/workers/heartbeat", json={"name": "w1"})
    deployment = make_deployment(env.http, "p")
    run = make_run(env.http, deployment["id"], at=env.clock() + timedelta(hours=1))
    assert env.http.delete("/work_pools/p").status_code == 204
    assert env.http.get("/work_pools/p").status_code == 404
    assert env.http.get(f"/flow_runs/{run['id']}").status_code == 404
    make_pool(env.http, "p")
    assert [q["name"] for q in ok(env.http.post("/work_pools/p/queues/filter", json={}))] == [
        "default"
    ]
    assert ok(env.http.post("/work_pools/p/workers/filter", json={})) == []


def test_deleting_an_unknown_pool_is_404(env: Env):
    assert env.http.delete("/work_pools/ghost").status_code == 404


def test_concurrency_status_counts_slots_per_queue(env: Env):
    make_pool(env.http, "p", concurrency_limit=5)
    make_queue(env.http, "p", "high", priority=1, concurrency_limit=2)
    deployment = make_deployment(env.http, "p", queue="high")
    run = make_run(env.http, deployment["id"])
    env.http.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "PENDING"}})
    status = ok(env.http.post("/work_pools/p/concurrency_status", json={}))
    assert (status["active_slots"], status["concurrency_limit"], status["count"]) == (1, 5, 2)
    high = status["queues"][0]
    assert (high["queue_name"], high["active_slots"], high["concurrency_limit"]) == ("high", 1, 2)
    assert [r["id"] for r in high["flow_runs"]] == [run["id"]]
    assert status["queues"][1]["active_slots"] == 0


def test_a_new_push_pool_is_ready_without_a_worker_or_a_first_dispatch(env):
    pool = make_pool(env.http, "pushy", type="cloud-run-v2:push")
    assert (pool["status"], pool["status_reason"]) == ("READY", None)
    pulled = make_pool(env.http, "pulled")
    assert pulled["status"] == "NOT_READY"
    assert "worker" in pulled["status_reason"]
