"""What the web UI needs from the server: its static files, the pool types with
their default templates, a run's state history and its masked job configuration."""

from __future__ import annotations

import base64
import gzip

import httpx

from handlers.api.app import handle
from handlers.api.routes.ui import static_file
from handlers.bootstrap import Settings, bootstrap
from tests.api.support import Env, make_deployment, make_pool, make_run, ok, propose
from tests.api.test_lambda_handler import event as gateway_event


def site(env: Env) -> httpx.Client:
    """A client for the site root (the UI), not /api."""
    return httpx.Client(base_url=env.api.url.removesuffix("/api"), timeout=10)


def test_the_ui_is_served_at_the_root_without_a_token(secured: Env):
    with site(secured) as web:
        page = web.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="assets/main.js">' in page.text
        script = web.get("/assets/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert web.get("/assets/app.css").headers["content-type"] == "text/css; charset=utf-8"
        assert web.get("/assets/favicon.svg").headers["content-type"] == "image/svg+xml"
    # ...while the API behind it still wants one
    assert secured.http.post("/work_pools/filter", json={}).status_code == 401


def test_ui_files_carry_a_strict_content_security_policy(env: Env):
    with site(env) as web:
        headers = web.get("/").headers
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"


def test_ui_files_are_revalidated_by_etag_and_gzipped_on_request(env: Env):
    with site(env) as web:
        first = web.get("/assets/api.js")
        etag = first.headers["etag"]
        again = web.get("/assets/api.js", headers={"If-None-Match": etag})
        zipped = web.get("/assets/api.js", headers={"Accept-Encoding": "gzip"})
    assert first.headers["cache-control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.text == first.text  # httpx undoes the gzip


def test_unknown_or_escaping_ui_paths_are_404(env: Env):
    with site(env) as web:
        for path in ("/assets/nope.js", "/assets/..%2f..%2fapi%2fapp.py", "/assets/x.py", "/nope"):
            response = web.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/json"


def test_static_files_are_read_once_and_typed_by_suffix():
    index = static_file("index.html")
    assert index is static_file("index.html")
    assert index.content_type.startswith("text/html")
    assert index.etag.startswith('"') and index.etag.endswith('"')


def test_pool_types_list_every_type_with_mode_wording_and_default_template(env: Env):
    types = {t["type"]: t for t in ok(env.http.get("/work_pool_types/"))}
    assert {"process", "ecs:push", "managed", "kubernetes"} <= set(types)
    process, push, managed = types["process"], types["ecs:push"], types["managed"]
    assert (process["mode"], process["needs_worker"], process["title"]) == ("pull", True, "Process")
    assert (push["mode"], push["needs_worker"]) == ("push", False)
    assert managed["mode"] == "managed"
    assert "stream_output" in process["default_base_job_template"]["variables"]["properties"]
    assert process["description"]


def test_one_pool_type_reads_alone_and_an_unknown_one_is_404_naming_the_types(env: Env):
    assert ok(env.http.get("/work_pool_types/ecs:push"))["title"].startswith("AWS")
    response = env.http.get("/work_pool_types/nope")
    assert response.status_code == 404
    assert "process" in response.json()["detail"]


def test_a_pool_named_types_is_not_shadowed(env: Env):
    make_pool(env.http, "types")
    assert ok(env.http.get("/work_pools/types"))["name"] == "types"


def test_state_history_lists_every_state_oldest_first(env: Env):
    make_pool(env.http, "p")
    run = make_run(env.http, make_deployment(env.http, "p")["id"])
    propose(env.http, run["id"], "PENDING")
    propose(env.http, run["id"], "RUNNING")
    states = ok(env.http.get("/flow_run_states/", params={"flow_run_id": run["id"]}))
    assert [s["type"] for s in states] == ["SCHEDULED", "PENDING", "RUNNING"]
    assert all(s["state_details"]["flow_run_id"] == run["id"] for s in states)
    assert env.http.get("/flow_run_states/", params={"flow_run_id": "nope"}).status_code == 404


def test_job_configuration_is_rendered_with_injected_values_and_secrets_masked(env: Env):
    make_pool(env.http, "p")
    deployment = make_deployment(
        env.http,
        "p",
        command="python -c pass",
        job_variables={"env": {"DB_PASSWORD": "hunter2", "REGION": "eu-west-1"}},
    )
    run = make_run(env.http, deployment["id"], job_variables={"env": {"GITHUB_TOKEN": "ghp_x"}})
    body = ok(env.http.get(f"/flow_runs/{run['id']}/job_configuration"))
    env_vars = body["job_configuration"]["env"]
    assert env_vars["REGION"] == "eu-west-1"
    assert env_vars["PUSHPOOL_FLOW_RUN_ID"] == run["id"]
    assert env_vars["PUSHPOOL_API_URL"] == env.api.url
    assert env_vars["DB_PASSWORD"] == env_vars["GITHUB_TOKEN"] == "********"
    assert env_vars["PUSHPOOL_RUN_TOKEN"] == "********"
    assert body["job_configuration"]["command"] == "python -c pass"
    assert set(body["masked"]) == {
        "env.DB_PASSWORD",
        "env.GITHUB_TOKEN",
        "env.PUSHPOOL_RUN_TOKEN",
    }
    assert "hunter2" not in str(body) and "ghp_x" not in str(body)


def test_job_configuration_says_why_a_run_cannot_be_rendered(env: Env):
    template = {
        "job_configuration": {"image": "{{ image }}"},
        "variables": {"type": "object", "properties": {"image": {"type": "string"}}},
    }
    make_pool(env.http, "p", base_job_template=template)
    run = make_run(env.http, make_deployment(env.http, "p")["id"])
    required = {**template, "variables": {**template["variables"], "required": ["image"]}}
    ok(env.http.patch("/work_pools/p", json={"base_job_template": required}), 204)
    response = env.http.get(f"/flow_runs/{run['id']}/job_configuration")
    assert response.status_code == 422
    assert "image" in response.json()["detail"]


def test_job_configuration_needs_an_admin(secured: Env):
    make = secured.as_(secured.token())
    make_pool(make, "p")
    run = make_run(make, make_deployment(make, "p")["id"])
    worker = secured.as_(secured.token("worker", pool_name="p"))
    assert worker.get(f"/flow_runs/{run['id']}/job_configuration").status_code == 403
    assert make.get(f"/flow_runs/{run['id']}/job_configuration").status_code == 200


def test_the_lambda_serves_the_ui_behind_api_gateway():
    """API Gateway routes GET / and GET /{proxy+} to the API function (template.yaml)."""
    lambda_container = bootstrap(settings=Settings(store_url="sqlite://", auth=True))
    page = handle(gateway_event("GET", "/"), container=lambda_container)
    assert page["statusCode"] == 200
    assert page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    gzipped = gateway_event("GET", "/assets/app.css")
    gzipped["headers"]["accept-encoding"] = "gzip, deflate, br"
    styles = handle(gzipped, container=lambda_container)
    assert (styles["statusCode"], styles["isBase64Encoded"]) == (200, True)
    assert styles["headers"]["Content-Encoding"] == "gzip"
    assert gzip.decompress(base64.b64decode(styles["body"])).startswith(b"/* pushpool UI")
