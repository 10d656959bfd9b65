"""``GET /flow_runs/{id}/job``: what a pull worker starts for a run it claimed.

Rendering happens in the control plane because only it can sign the run's
token; the route hands the job out only for a claimed run, and only to the
worker of the run's pool (or an admin).
"""

from __future__ import annotations

import sys

from core.services.auth import run_token
from tests.api.support import Env, make_deployment, make_pool, make_run, ok, propose

COMMAND = f"{sys.executable} -c pass"


def claimed_run(env: Env, http=None) -> dict:
    http = http or env.http
    make_pool(http, "p")
    deployment = make_deployment(
        http, "p", command=COMMAND, job_variables={"env": {"TEAM": "data"}}
    )
    run = make_run(http, deployment["id"], job_variables={"working_dir": "/tmp"})
    assert propose(http, run["id"], "PENDING")["status"] == "ACCEPT"
    return run


def test_a_claimed_run_gets_its_rendered_job_with_the_run_token_injected(env: Env):
    run = claimed_run(env)
    job = ok(env.http.get(f"/flow_runs/{run['id']}/job"))
    assert (job["flow_run_id"], job["attempt"], job["name"]) == (run["id"], 1, run["name"])
    assert (job["work_pool_name"], job["work_pool_type"]) == ("p", "process")
    assert job["idempotency_key"] == f"{run['id']}-1"
    config = job["job_configuration"]
    assert config["command"] == COMMAND
    assert config["working_dir"] == "/tmp"
    env_vars = config["env"]
    assert env_vars["TEAM"] == "data"
    assert env_vars["PUSHPOOL_FLOW_RUN_ID"] == run["id"]
    assert env_vars["PUSHPOOL_API_URL"] == env.api.url
    assert env_vars["PUSHPOOL_RUN_TOKEN"] == run_token(run["id"], key=b"k" * 32)
    assert config["labels"]["pushpool.io/flow-run-id"] == run["id"]


def test_a_run_nobody_claimed_gets_no_job(env: Env):
    make_pool(env.http, "p")
    deployment = make_deployment(env.http, "p", command=COMMAND)
    run = make_run(env.http, deployment["id"])
    response = env.http.get(f"/flow_runs/{run['id']}/job")
    assert response.status_code == 409
    assert "claimed" in response.json()["detail"]
    assert env.http.get("/flow_runs/nope/job").status_code == 404


def test_only_the_pools_worker_or_an_admin_reads_the_job(secured: Env):
    admin = secured.as_(secured.token("admin"))
    run = claimed_run(secured, admin)
    make_pool(admin, "other")
    path = f"/flow_runs/{run['id']}/job"
    assert admin.get(path).status_code == 200
    assert secured.as_(secured.token("worker", pool_name="p")).get(path).status_code == 200
    stranger = secured.as_(secured.token("worker", pool_name="other")).get(path)
    assert stranger.status_code == 403
    own_run = secured.as_(run_token(run["id"], key=b"k" * 32)).get(path)
    assert own_run.status_code == 403
    assert "worker" in own_run.json()["detail"]


def test_a_job_that_cannot_be_rendered_is_a_422_naming_the_problem(env: Env):
    template = {
        "job_configuration": {"command": "{{ command }}", "image": "{{ image }}"},
        "variables": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "image": {"type": "string"}},
            "required": ["image"],
        },
    }
    make_pool(env.http, "p", base_job_template=template)
    deployment = make_deployment(env.http, "p", command=COMMAND)
    run = make_run(env.http, deployment["id"])
    propose(env.http, run["id"], "PENDING")
    response = env.http.get(f"/flow_runs/{run['id']}/job")
    assert response.status_code == 422
    assert "image" in response.json()["detail"]
