"""Every refusal is JSON with a detail that says what to fix; no input makes a 500."""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import Env, make_deployment, make_pool, make_run, ok


def test_malformed_json_is_422_and_names_the_problem(env: Env):
    response = env.http.post(
        "/work_pools/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "the request body is not valid JSON"


def test_missing_body_wrong_types_and_unknown_fields_are_422(env: Env):
    missing = env.http.post("/work_pools/")
    assert missing.status_code == 422
    assert "body" in missing.json()["detail"]
    wrong = env.http.post("/work_pools/", json={"name": 3, "concurrency_limit": "many"})
    assert wrong.status_code == 422
    assert "concurrency_limit" in wrong.json()["detail"]
    extra = env.http.post("/work_pools/", json={"name": "p", "colour": "red"})
    assert extra.status_code == 422
    assert "colour: unknown key" in extra.json()["detail"]
    assert ok(env.http.post("/work_pools/filter", json={})) == []


def test_prefect_client_fields_we_do_not_use_are_accepted(env: Env):
    body = {"name": "p", "type": "process", "storage_configuration": {"bundle_upload_step": None}}
    assert env.http.post("/work_pools/", json=body).status_code == 201
    deployment = make_deployment(env.http, "p")
    run = make_run(env.http, deployment["id"])
    state = {
        "type": "RUNNING",
        "name": "Running",
        "message": None,
        "data": None,
        "state_details": {"flow_run_id": run["id"], "cache_key": None, "pause_timeout": None},
    }
    response = env.http.post(
        f"/flow_runs/{run['id']}/set_state", json={"state": state, "force": False}
    )
    assert response.status_code == 201


def test_unknown_routes_and_methods_are_404_with_a_pointer_to_the_docs(env: Env):
    for method, path in [("GET", "/nothing"), ("PUT", "/work_pools/x"), ("GET", "/work_pools/")]:
        response = env.http.request(method, path)
        assert response.status_code == 404, (method, path)
        assert "/api/docs" in response.json()["detail"]


def test_a_body_over_the_limit_is_refused_before_reading_it(env: Env):
    huge = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    response = env.http.post(
        "/work_pools/", content=huge, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "larger than" in response.json()["detail"]


def test_health_openapi_and_swagger_ui(env: Env):
    assert ok(env.http.get("/health")) is True
    document = ok(env.http.get("/openapi.json"))
    paths = document["paths"]
    for path in (
        "/api/work_pools/", "/api/work_pools/{pool}", "/api/work_pools/filter",
        "/api/work_pools/{pool}/queues", "/api/work_pools/{pool}/queues/{queue}",
        "/api/work_pools/{pool}/queues/filter", "/api/work_pools/{pool}/get_scheduled_flow_runs",
        "/api/work_pools/{pool}/workers/heartbeat", "/api/work_pools/{pool}/workers/filter",
        "/api/flows/", "/api/deployments/", "/api/deployments/{deployment_id}/create_flow_run",
        "/api/flow_runs/{run_id}", "/api/flow_runs/filter", "/api/flow_runs/{run_id}/set_state",
        "/api/health",
    ):  # fmt: skip
        assert path in paths, path
    assert "bearer" in document["components"]["securitySchemes"]
    docs = env.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["name", "type", "concurrency_limit", "priority", "is_paused", "state", "force", "job_variables",
     "base_job_template", "work_pool_name", "flow_id", "schedules", "work_queue_names",
     "scheduled_before", "limit", "offset", "work_pools", "flow_runs", "hours", "infrastructure_pid",
     "description", "parameters"]
)  # fmt: skip
BODIES = st.one_of(JSON_VALUES, st.dictionaries(FIELDS, JSON_VALUES, max_size=6))
ROUTES = [
    ("POST", "/work_pools/"), ("POST", "/work_pools/filter"), ("PATCH", "/work_pools/p"),
    ("POST", "/work_pools/p/queues"), ("PATCH", "/work_pools/p/queues/default"),
    ("POST", "/work_pools/p/queues/filter"), ("POST", "/work_pools/p/get_scheduled_flow_runs"),
    ("POST", "/work_pools/p/workers/heartbeat"), ("POST", "/work_pools/p/workers/filter"),
    ("POST", "/work_pools/p/preview"), ("POST", "/work_pools/p/concurrency_status"),
    ("POST", "/flows/"), ("POST", "/deployments/"), ("POST", "/deployments/filter"),
    ("POST", "/deployments/D/create_flow_run"), ("PATCH", "/deployments/D"),
    ("POST", "/flow_runs/filter"), ("POST", "/flow_runs/R/set_state"), ("PATCH", "/flow_runs/R"),
    ("POST", "/tokens/"),
]  # fmt: skip


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(route=st.sampled_from(ROUTES), body=BODIES)
def test_no_input_produces_a_server_error(env: Env, route: tuple[str, str], body: object):
    if not hasattr(env, "ids"):
        make_pool(env.http, "p")
        deployment = make_deployment(env.http, "p")
        env.ids = {"D": deployment["id"], "R": make_run(env.http, deployment["id"])["id"]}  # type: ignore[attr-defined]
    method, path = route
    for key, value in env.ids.items():  # type: ignore[attr-defined]
        path = path.replace(f"/{key}", f"/{value}")
    response = env.http.request(
        method, path, content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, (method, path, body, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["detail"], str)


def test_garbage_bytes_and_odd_paths_never_crash(env: Env):
    make_pool(env.http, "p")
    for content in (b"\xff\xfe\x00", b"[]", b"null", b'"text"', b"1e999"):
        response = env.http.post(
            "/work_pools/", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, content
    raw = httpx.Client(base_url=env.api.url.removesuffix("/api"))
    try:
        for path in ("/api/work_pools/%ZZ", "/api/work_pools/%00", "/api/flow_runs/..%2F..%2Fetc"):
            assert raw.get(path).status_code in (404, 422), path
    finally:
        raw.close()


class Failing:
    """A store whose every pool listing fails the way ``error`` does."""

    def __init__(self, store: object, error: Exception) -> None:
        self._store, self._error = store, error

    def list_pools(self) -> object:
        raise self._error

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)


def test_a_throttled_store_answers_503_and_says_a_retry_helps(env: Env):
    from core.errors import Transient
    from handlers.bootstrap import bootstrap

    flaky = Failing(env.store, Transient("DynamoDB is throttling; retry with back-off"))
    env.api.use(bootstrap(store=flaky, settings=env.container.settings))  # type: ignore[arg-type]
    response = env.http.post("/work_pools/filter", json={})
    assert response.status_code == 503
    assert response.json() == {
        "detail": "DynamoDB is throttling; retry with back-off",
        "retryable": True,
    }


def test_a_bug_answers_a_plain_500_that_leaks_nothing(env: Env, caplog):
    from handlers.bootstrap import bootstrap

    broken = Failing(env.store, RuntimeError("secret internals at /srv/x"))
    env.api.use(bootstrap(store=broken, settings=env.container.settings))  # type: ignore[arg-type]
    response = env.http.post("/work_pools/filter", json={})
    assert response.status_code == 500
    assert "secret" not in response.text
    assert "server log" in response.json()["detail"]
    assert "secret internals" in caplog.text
