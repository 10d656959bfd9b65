"""The requests Prefect's CLI and client make, as they make them (every filter
field sent, nulls for 'not given'), answered without Prefect installed; the
compatibility suite (tests/compat) drives the real Prefect against them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.api.support import Env, make_deployment, make_pool, make_queue, make_run, ok


def test_null_page_bounds_mean_the_defaults(env: Env):
    make_pool(env.http, "p")
    body = {"limit": None, "offset": None}
    pools = ok(env.http.post("/work_pools/filter", json={"work_pools": None, **body}))
    assert [p["name"] for p in pools] == ["p"]
    queues = ok(env.http.post("/work_pools/p/queues/filter", json={"work_queues": None, **body}))
    assert [q["name"] for q in queues] == ["default"]


def test_prefects_filter_grammar_is_read_and_what_is_not_supported_is_refused(env: Env):
    make_pool(env.http, "p")
    dep = make_deployment(env.http, "p", name="nightly", queue="urgent")
    deployments = {
        "operator": "and_",
        "id": None,
        "name": {"any_": ["nightly"], "like_": None},
        "tags": None,
        "work_queue_name": {"any_": ["urgent"]},
        "concurrency_limit": None,
    }
    body = {"flows": None, "flow_runs": None, "task_runs": None, "work_pool_queues": None}
    found = ok(env.http.post("/deployments/filter", json={**body, "deployments": deployments}))
    assert [d["id"] for d in found] == [dep["id"]]
    other_queue = {**deployments, "work_queue_name": {"any_": ["default"]}}
    assert ok(env.http.post("/deployments/filter", json={"deployments": other_queue})) == []

    for refused in (
        {"deployments": {**deployments, "tags": {"all_": ["x"]}}},
        {"deployments": {**deployments, "name": {"like_": "night"}}},
        {"deployments": {**deployments, "operator": "or_"}},
        {"flow_runs": {"id": {"any_": ["x"]}}},
    ):
        response = env.http.post("/deployments/filter", json=refused)
        assert response.status_code == 422, refused
    assert (
        "does not filter on this"
        in env.http.post("/deployments/filter", json={"flow_runs": {"id": {"any_": ["x"]}}}).json()[
            "detail"
        ]
    )


def test_flows_filter_reads_flows_by_id_or_those_with_deployments(env: Env):
    make_pool(env.http, "p")
    dep = make_deployment(env.http, "p")
    lonely = ok(env.http.post("/flows/", json={"name": "lonely"}), 201)
    by_id = {"flows": {"operator": "and_", "id": {"any_": [lonely["id"], "nope"]}, "name": None}}
    assert [f["name"] for f in ok(env.http.post("/flows/filter", json=by_id))] == ["lonely"]
    everything = ok(env.http.post("/flows/filter", json={"limit": None, "offset": 0}))
    assert [f["id"] for f in everything] == [dep["flow_id"]]


def test_queues_by_id_and_their_health(env: Env):
    make_pool(env.http, "p")
    queue = make_queue(env.http, "p", "q", concurrency_limit=2)
    assert ok(env.http.get(f"/work_queues/{queue['id']}"))["name"] == "q"
    assert (
        env.http.patch(f"/work_queues/{queue['id']}", json={"is_paused": True}).status_code == 204
    )
    assert ok(env.http.get("/work_pools/p/queues/q"))["is_paused"] is True

    dep = make_deployment(env.http, "p", queue="q")
    make_run(env.http, dep["id"], at=datetime.now(UTC) - timedelta(minutes=5))
    health = ok(env.http.get(f"/work_queues/{queue['id']}/status"))
    assert (health["healthy"], health["late_runs_count"], health["last_polled"]) == (False, 1, None)

    assert env.http.delete(f"/work_queues/{queue['id']}").status_code == 204
    assert env.http.get(f"/work_queues/{queue['id']}").status_code == 404
    default = ok(env.http.get("/work_pools/p/queues/default"))
    refused = env.http.delete(f"/work_queues/{default['id']}")
    assert refused.status_code == 409 and "cannot be deleted" in refused.json()["detail"]


def test_prefect_only_fields_are_declared_and_features_pushpool_lacks_are_refused(env: Env):
    make_pool(env.http, "p")
    created = ok(env.http.post("/work_pools/p/queues", json={"name": "q", "filter": None}), 201)
    assert created["name"] == "q"
    flow = ok(env.http.post("/flows/", json={"name": "f"}), 201)
    prefect_body = {
        "name": "d", "flow_id": flow["id"], "work_pool_name": "p", "labels": {},
        "concurrency_limit": None, "concurrency_options": None,
        "storage_document_id": None, "infrastructure_document_id": None,
        "parameters": {"day": "mon"},
    }  # fmt: skip
    dep = ok(env.http.post("/deployments/", json=prefect_body), 201)
    assert dep["parameter_openapi_schema"]["properties"] == {"day": {}}
    limited = env.http.post("/deployments/", json={**prefect_body, "concurrency_limit": 1})
    assert limited.status_code == 422
    assert "no per-deployment concurrency limit" in limited.json()["detail"]
    run = ok(
        env.http.post(
            f"/deployments/{dep['id']}/create_flow_run",
            json={"job_variables": None, "parameters": None, "labels": {}, "context": {}},
        ),
        201,
    )
    assert (run["job_variables"], run["parameters"]) == ({}, {"day": "mon"})


def test_prefects_side_requests(env: Env):
    csrf = env.http.get("/csrf-token", params={"client": "c"})
    assert (csrf.status_code, csrf.json()["detail"]) == (422, "CSRF protection is disabled.")
    assert ok(env.http.get("/automations/related-to/prefect.deployment.x")) == []
    catalogue = ok(env.http.get("/collections/views/aggregate-worker-metadata"))
    ecs = catalogue["pushpool"]["ecs:push"]
    assert ecs["type"] == "ecs:push"
    assert ecs["default_base_job_configuration"]["variables"]["properties"]
    assert env.http.get("/collections/views/flow").status_code == 404
    alone = env.http.post("/flow_runs/", json={"flow_id": "f", "state": {"type": "SCHEDULED"}})
    assert alone.status_code == 422
    assert "create_flow_run_from_deployment" in alone.json()["detail"]


def test_flow_runs_filter_reads_prefects_nested_deployment_and_pool_filters(env: Env):
    make_pool(env.http, "p")
    make_pool(env.http, "other")
    dep = make_deployment(env.http, "p")
    run = make_run(env.http, dep["id"])
    make_run(env.http, make_deployment(env.http, "other", name="o")["id"])
    body = {
        "flow_runs": None,
        "deployments": {
            "operator": "and_", "id": {"any_": [dep["id"]], "not_any_": None}, "name": None,
            "tags": None, "work_queue_name": None, "concurrency_limit": None,
        },
        "work_pools": {"operator": "and_", "id": None, "name": {"any_": ["p"]}, "type": None},
        "work_pool_queues": None, "flows": None, "task_runs": None,
        "sort": "EXPECTED_START_TIME_DESC", "limit": None, "offset": 0,
    }  # fmt: skip
    assert [r["id"] for r in ok(env.http.post("/flow_runs/filter", json=body))] == [run["id"]]
    typed = {**body, "work_pools": {"type": {"any_": ["process"]}}}
    refused = env.http.post("/flow_runs/filter", json=typed)
    assert refused.status_code == 422 and "work_pools.type" in refused.json()["detail"]


def test_numbers_past_what_a_store_holds_are_refused_not_a_500(env: Env):
    """`prefect work-queue set-concurrency-limit q 99999999999999999999` was a 500."""
    huge = 10**20
    make_pool(env.http, "p")
    make_queue(env.http, "p", "q")
    for method, path, body in (
        ("POST", "/work_pools/", {"name": "big", "concurrency_limit": huge}),
        ("PATCH", "/work_pools/p", {"concurrency_limit": huge}),
        ("POST", "/work_pools/p/queues", {"name": "big", "priority": huge}),
        ("PATCH", "/work_pools/p/queues/q", {"concurrency_limit": huge}),
    ):
        answer = env.http.request(method, path, json=body)
        assert answer.status_code == 422, f"{method} {path}: {answer.text}"
        assert "less than or equal to 2147483647" in answer.json()["detail"]
    at_most = env.http.patch("/work_pools/p/queues/q", json={"concurrency_limit": 2**31 - 1})
    assert at_most.status_code == 204
    assert ok(env.http.get("/work_pools/p/queues/q"))["concurrency_limit"] == 2**31 - 1

    flow = ok(env.http.post("/flows/", json={"name": "f"}), 201)
    forever = {"schedule": {"interval": 1e308}}
    body = {"name": "d", "flow_id": flow["id"], "work_pool_name": "p", "schedules": [forever]}
    refused = env.http.post("/deployments/", json=body)
    assert refused.status_code == 422
    assert "schedules[0].interval: must be at most" in refused.json()["detail"]
    assert ok(env.http.post("/deployments/filter", json={})) == []
