"""Flows and deployments over HTTP: upserts, queue creation, job-variable contracts."""

from __future__ import annotations

from tests.api.support import Env, make_deployment, make_pool, ok

RESTRICTED = {
    "job_configuration": {"command": "{{ command }}", "cpu": "{{ cpu }}"},
    "variables": {
        "type": "object",
        "properties": {
            "command": {"type": "string"},
            "cpu": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
        },
    },
}


def flow_id(env: Env, name: str = "etl") -> str:
    return ok(env.http.post("/flows/", json={"name": name}), 201)["id"]


def test_flows_are_created_once_then_read(env: Env):
    created = env.http.post("/flows/", json={"name": "etl"})
    again = env.http.post("/flows/", json={"name": "etl"})
    assert (created.status_code, again.status_code) == (201, 200)
    assert created.json()["id"] == again.json()["id"]
    assert ok(env.http.get(f"/flows/{created.json()['id']}"))["name"] == "etl"
    assert env.http.get("/flows/nope").status_code == 404


def test_a_deployment_is_created_then_replaced_by_the_same_name(env: Env):
    make_pool(env.http, "p")
    fid = flow_id(env)
    body = {"name": "nightly", "flow_id": fid, "work_pool_name": "p", "command": "echo 1"}
    first = env.http.post("/deployments/", json=body)
    second = env.http.post("/deployments/", json={**body, "command": "echo 2"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    deployment = ok(env.http.get(f"/deployments/{first.json()['id']}"))
    assert (deployment["command"], deployment["work_queue_name"], deployment["flow_name"]) == (
        "echo 2", "default", "etl",
    )  # fmt: skip
    by_name = ok(env.http.get("/deployments/name/etl/nightly"))
    assert by_name["id"] == deployment["id"]


def test_a_named_queue_that_does_not_exist_is_created(env: Env):
    make_pool(env.http, "p")
    make_deployment(env.http, "p", queue="reports")
    queues = ok(env.http.post("/work_pools/p/queues/filter", json={}))
    assert [(q["name"], q["priority"]) for q in queues] == [("default", 1), ("reports", 2)]


def test_job_variables_are_checked_against_the_pool_schema(env: Env):
    make_pool(env.http, "p", base_job_template=RESTRICTED)
    fid = flow_id(env)
    base = {"name": "d", "flow_id": fid, "work_pool_name": "p"}
    unknown = env.http.post("/deployments/", json={**base, "job_variables": {"gpu": 1}})
    assert unknown.status_code == 422
    assert "gpu" in unknown.json()["detail"]
    too_big = env.http.post("/deployments/", json={**base, "job_variables": {"cpu": 9}})
    assert too_big.status_code == 422
    assert "cpu" in too_big.json()["detail"]
    assert ok(env.http.post("/deployments/filter", json={})) == []
    fine = env.http.post("/deployments/", json={**base, "job_variables": {"cpu": 2}})
    assert fine.status_code == 201
    assert fine.json()["job_variables"] == {"cpu": 2}


def test_a_deployment_in_an_unknown_pool_is_404(env: Env):
    fid = flow_id(env)
    response = env.http.post(
        "/deployments/", json={"name": "d", "flow_id": fid, "work_pool_name": "ghost"}
    )
    assert response.status_code == 404
    assert "ghost" in response.json()["detail"]


def test_schedules_are_validated_and_returned_in_prefects_shape(env: Env):
    make_pool(env.http, "p")
    fid = flow_id(env)
    base = {"name": "d", "flow_id": fid, "work_pool_name": "p"}
    bad_cron = env.http.post(
        "/deployments/", json={**base, "schedules": [{"schedule": {"cron": "every day"}}]}
    )
    assert bad_cron.status_code == 422
    assert "cron" in bad_cron.json()["detail"]
    bad_zone = {"schedule": {"cron": "0 * * * *", "timezone": "Mars/Olympus"}}
    assert env.http.post("/deployments/", json={**base, "schedules": [bad_zone]}).status_code == 422
    schedules = [
        {"schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris"}},
        {"schedule": {"interval": 600}, "active": False},
        {"schedule": {"rrule": "FREQ=DAILY;BYHOUR=3"}},
    ]
    created = ok(env.http.post("/deployments/", json={**base, "schedules": schedules}), 201)
    shapes = [(s["schedule"], s["active"]) for s in created["schedules"]]
    assert shapes[0] == ({"cron": "0 6 * * *", "timezone": "Europe/Paris"}, True)
    assert shapes[1][0]["interval"] == 600 and shapes[1][1] is False
    assert shapes[2][0]["rrule"] == "FREQ=DAILY;BYHOUR=3"


def test_patch_updates_and_moves_between_pools(env: Env):
    make_pool(env.http, "p")
    make_pool(env.http, "q")
    deployment = make_deployment(env.http, "p", queue="reports")
    path = f"/deployments/{deployment['id']}"
    assert env.http.patch(path, json={"parameters": {"x": 1}, "paused": True}).status_code == 204
    updated = ok(env.http.get(path))
    assert (updated["parameters"], updated["paused"], updated["work_queue_name"]) == (
        {"x": 1},
        True,
        "reports",
    )
    assert env.http.patch(path, json={"work_pool_name": "q"}).status_code == 204
    moved = ok(env.http.get(path))
    assert (moved["work_pool_name"], moved["work_queue_name"]) == ("q", "default")


def test_filter_and_delete(env: Env):
    make_pool(env.http, "p")
    a = make_deployment(env.http, "p", name="a")
    make_deployment(env.http, "p", name="b")
    names = lambda body: [d["name"] for d in ok(env.http.post("/deployments/filter", json=body))]  # noqa: E731
    assert names({}) == ["a", "b"]
    assert names({"deployments": {"name": {"any_": ["b"]}}}) == ["b"]
    assert names({"work_pools": {"name": {"any_": ["nope"]}}}) == []
    assert env.http.delete(f"/deployments/{a['id']}").status_code == 204
    assert env.http.get(f"/deployments/{a['id']}").status_code == 404
    assert env.http.delete(f"/deployments/{a['id']}").status_code == 404
    assert names({}) == ["b"]


def test_deleting_a_deployment_cancels_its_waiting_runs(env: Env):
    make_pool(env.http, "p")
    deployment = make_deployment(env.http, "p")
    run = ok(env.http.post(f"/deployments/{deployment['id']}/create_flow_run", json={}), 201)
    env.http.delete(f"/deployments/{deployment['id']}")
    assert ok(env.http.get(f"/flow_runs/{run['id']}"))["state_type"] == "CANCELLED"


def test_entrypoint_and_command_are_exclusive(env: Env):
    make_pool(env.http, "p")
    fid = flow_id(env)
    body = {
        "name": "d",
        "flow_id": fid,
        "work_pool_name": "p",
        "entrypoint": "f.py:f",
        "command": "x",
    }
    assert env.http.post("/deployments/", json=body).status_code == 422


def test_a_refused_deployment_or_run_creates_no_queue(env: Env):
    make_pool(env.http, "p", base_job_template=RESTRICTED)
    fid = flow_id(env)
    body = {"name": "d", "flow_id": fid, "work_pool_name": "p", "work_queue_name": "new"}
    assert (
        env.http.post("/deployments/", json={**body, "job_variables": {"gpu": 1}}).status_code
        == 422
    )
    bad_schedule = {"schedules": [{"schedule": {"cron": "nope"}}]}
    assert env.http.post("/deployments/", json={**body, **bad_schedule}).status_code == 422
    deployment = ok(env.http.post("/deployments/", json={**body, "work_queue_name": None}), 201)
    path = f"/deployments/{deployment['id']}/create_flow_run"
    refused = env.http.post(path, json={"work_queue_name": "adhoc", "job_variables": {"cpu": 99}})
    assert refused.status_code == 422
    queues = ok(env.http.post("/work_pools/p/queues/filter", json={}))
    assert [q["name"] for q in queues] == ["default"]


def test_schedules_whose_times_cannot_be_computed_are_refused_at_input(env: Env):
    """Issue 13, fault 3: ``interval: 1e300`` was accepted and then broke every tick."""
    make_pool(env.http, "p")
    base = {"name": "d", "flow_id": flow_id(env), "work_pool_name": "p"}
    hostile = [
        ({"interval": 1e300}, "interval"),
        ({"interval": 86400 * 3654}, "interval"),
        ({"interval": 60, "anchor_date": "9999-12-31T00:00:00Z"}, "anchor_date"),
        ({"interval": 60, "anchor_date": "0001-01-01T00:00:00Z"}, "anchor_date"),
        ({"rrule": "FREQ=DAILY;INTERVAL=0"}, "rrule"),
    ]
    for schedule, field in hostile:
        response = env.http.post(
            "/deployments/", json={**base, "schedules": [{"schedule": schedule}]}
        )
        assert response.status_code == 422, schedule
        assert field in response.json()["detail"] or "schedules[0]" in response.json()["detail"]
    assert ok(env.http.post("/deployments/filter", json={})) == []
    decade = {"interval": 86400 * 3653, "anchor_date": "2999-01-01T00:00:00Z"}
    created = env.http.post("/deployments/", json={**base, "schedules": [{"schedule": decade}]})
    assert created.status_code == 201
