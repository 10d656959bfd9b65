"""Bearer tokens and scopes: admin does everything, a worker serves its pool,
a run reports its own state; tokens are stored hashed."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from core.services.auth import run_token
from tests.api.support import Env, make_deployment, make_pool, make_run, ok


def seed(env: Env) -> tuple[str, dict, dict]:
    """An admin token, a pool 'p' with a run, and a second pool 'other'."""
    admin = env.token("admin")
    http = env.as_(admin)
    make_pool(http, "p")
    make_pool(http, "other")
    deployment = make_deployment(http, "p")
    return admin, deployment, make_run(http, deployment["id"])


def test_every_route_but_health_and_docs_needs_a_token(secured: Env):
    anonymous = secured.http
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200
    for method, path in [
        ("POST", "/work_pools/"), ("GET", "/work_pools/p"), ("POST", "/work_pools/filter"),
        ("POST", "/flow_runs/filter"), ("POST", "/work_pools/p/workers/heartbeat"),
        ("GET", "/nowhere"),
    ]:  # fmt: skip
        response = anonymous.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Bearer" in response.json()["detail"]


def test_unknown_malformed_and_expired_tokens_are_401(secured: Env):
    assert secured.as_("pp_nope").get("/work_pools/p").status_code == 401
    basic = secured.api.client()
    assert basic.get("/work_pools/p", headers={"Authorization": "Basic abc"}).status_code == 401
    expiring = secured.token("admin", expires=secured.clock() + timedelta(minutes=1))
    assert secured.as_(expiring).post("/work_pools/filter", json={}).status_code == 200
    secured.clock.advance(minutes=2)
    response = secured.as_(expiring).post("/work_pools/filter", json={})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_tokens_are_stored_as_hashes_only(secured: Env):
    bearer = secured.token("admin")
    stored = secured.store.find_token(hashlib.sha256(bearer.encode()).hexdigest())
    assert stored is not None and stored.scope == "admin"
    assert bearer not in stored.model_dump_json()


def test_an_admin_token_can_do_everything(secured: Env):
    admin, deployment, run = seed(secured)
    http = secured.as_(admin)
    assert http.patch("/work_pools/p", json={"concurrency_limit": 2}).status_code == 204
    assert (
        http.post(
            f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "PENDING"}}
        ).status_code
        == 201
    )
    assert http.delete(f"/deployments/{deployment['id']}").status_code == 204


def test_a_worker_token_serves_its_own_pool_only(secured: Env):
    _, deployment, run = seed(secured)
    worker = secured.as_(secured.token("worker", pool_name="p"))
    assert worker.post("/work_pools/p/workers/heartbeat", json={"name": "w"}).status_code == 204
    assert worker.get("/work_pools/p").status_code == 200
    assert worker.post("/work_pools/p/get_scheduled_flow_runs", json={}).status_code == 200
    claim = worker.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "PENDING"}})
    assert claim.status_code == 201
    assert (
        worker.patch(f"/flow_runs/{run['id']}", json={"infrastructure_pid": "42"}).status_code
        == 204
    )
    visible = ok(
        worker.post("/flow_runs/filter", json={"work_pools": {"name": {"any_": ["other", "p"]}}})
    )
    assert [r["id"] for r in visible] == [run["id"]]
    for method, path, body in [
        ("POST", "/work_pools/other/workers/heartbeat", {"name": "w"}),
        ("GET", "/work_pools/other", None),
        ("POST", "/work_pools/", {"name": "mine", "type": "process"}),
        ("PATCH", "/work_pools/p", {"concurrency_limit": 100}),
        ("DELETE", "/work_pools/p", None),
        ("POST", f"/deployments/{deployment['id']}/create_flow_run", {}),
        ("POST", "/tokens/", {"scope": "admin"}),
    ]:
        response = worker.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert "worker token" in response.json()["detail"] or "admin" in response.json()["detail"]


def test_a_run_token_reports_its_own_run_only_and_cannot_force(secured: Env):
    admin, deployment, run = seed(secured)
    other = make_run(secured.as_(admin), deployment["id"])
    mine = secured.as_(run_token(run["id"], key=secured.container.settings.run_token_key or b""))
    assert (
        mine.post(
            f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
        ).status_code
        == 201
    )
    assert mine.get(f"/flow_runs/{run['id']}").status_code == 200
    forced = mine.post(
        f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "COMPLETED"}, "force": True}
    )
    assert forced.status_code == 403
    assert (
        mine.post(
            f"/flow_runs/{other['id']}/set_state", json={"state": {"type": "RUNNING"}}
        ).status_code
        == 403
    )
    assert mine.get(f"/flow_runs/{other['id']}").status_code == 403
    assert mine.post("/flow_runs/filter", json={}).status_code == 403
    assert mine.get("/work_pools/p").status_code == 403


def test_a_run_token_signed_with_another_key_is_refused(secured: Env):
    _, _, run = seed(secured)
    forged = secured.as_(run_token(run["id"], key=b"not-the-key"))
    response = forged.post(f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}})
    assert response.status_code == 401


def test_a_stored_run_token_works_like_a_signed_one(secured: Env):
    _, _, run = seed(secured)
    stored = secured.as_(secured.token("run", run_id=run["id"]))
    assert (
        stored.post(
            f"/flow_runs/{run['id']}/set_state", json={"state": {"type": "RUNNING"}}
        ).status_code
        == 201
    )


def test_admins_mint_worker_tokens_over_the_api(secured: Env):
    admin, _, _ = seed(secured)
    created = ok(
        secured.as_(admin).post("/tokens/", json={"scope": "worker", "pool_name": "p"}), 201
    )
    assert created["token"].startswith("pp_") and created["pool_name"] == "p"
    worker = secured.as_(created["token"])
    assert worker.post("/work_pools/p/workers/heartbeat", json={"name": "w"}).status_code == 204
    missing_pool = secured.as_(admin).post("/tokens/", json={"scope": "worker"})
    assert missing_pool.status_code == 422
    assert (
        secured.as_(admin)
        .post("/tokens/", json={"scope": "worker", "pool_name": "ghost"})
        .status_code
        == 404
    )
