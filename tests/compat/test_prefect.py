"""Prefect's own CLI and Python client, unmodified, against pushpool on both
stores; every change is checked through pushpool's API (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pushpool
from pushpool import ApiError, Client
from tests.compat.conftest import Prefect

TEMPLATE = {
    "job_configuration": {"command": "{{ command }}", "env": "{{ env }}"},
    "variables": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "env": {"type": "object"}},
    },
}


def test_prefect_work_pool_commands(prefect: Prefect, api: Client, tmp_path: Path):
    template = tmp_path / "template.json"
    template.write_text(json.dumps(TEMPLATE))
    prefect.cli("work-pool", "create", "wp-plain", "--type", "process")
    prefect.cli(
        "work-pool", "create", "wp-tpl", "--type", "process", "--base-job-template", str(template)
    )
    assert api.read_pool("wp-tpl")["base_job_template"] == TEMPLATE
    assert api.read_pool("wp-plain")["base_job_template"]["job_configuration"]

    listed = prefect.cli("work-pool", "ls")
    assert "wp-plain" in listed and "wp-tpl" in listed
    assert "wp-tpl" in prefect.cli("work-pool", "inspect", "wp-tpl")

    prefect.cli("work-pool", "pause", "wp-plain")
    assert api.read_pool("wp-plain")["is_paused"] is True
    prefect.cli("work-pool", "resume", "wp-plain")
    assert api.read_pool("wp-plain")["is_paused"] is False
    prefect.cli("work-pool", "set-concurrency-limit", "wp-plain", "5")
    assert api.read_pool("wp-plain")["concurrency_limit"] == 5
    prefect.cli("work-pool", "clear-concurrency-limit", "wp-plain")
    assert api.read_pool("wp-plain")["concurrency_limit"] is None
    prefect.cli("work-pool", "update", "wp-plain", "--description", "from prefect")
    assert api.read_pool("wp-plain")["description"] == "from prefect"
    assert "No runs found" in prefect.cli("work-pool", "preview", "wp-plain")

    # A type Prefect does not ship: its default template comes from pushpool's catalogue.
    shown = prefect.cli("work-pool", "get-default-base-job-template", "--type", "modal:push")
    assert json.loads(shown)["variables"]["properties"]
    prefect.cli("work-pool", "create", "wp-modal", "--type", "modal:push")
    assert api.read_pool("wp-modal")["type"] == "modal:push"

    prefect.cli("work-pool", "delete", "wp-tpl")
    assert [p["name"] for p in api.list_pools()] == ["wp-modal", "wp-plain"]


def test_prefect_work_queue_commands(prefect: Prefect, api: Client):
    api.create_pool(name="wq-pool", type="process")
    prefect.cli("work-queue", "create", "urgent", "--pool", "wq-pool", "--limit", "3")
    prefect.cli("work-queue", "create", "bulk", "--pool", "wq-pool", "--priority", "5")
    queues = {q["name"]: q for q in api.list_queues("wq-pool")}
    assert queues["urgent"]["concurrency_limit"] == 3
    assert queues["bulk"]["priority"] == 5

    listed = prefect.cli("work-queue", "ls", "--pool", "wq-pool")
    assert "urgent" in listed and "bulk" in listed and "default" in listed
    inspected = prefect.cli("work-queue", "inspect", "urgent", "--pool", "wq-pool")
    assert queues["urgent"]["id"] in inspected
    assert "WorkQueueStatusDetail(healthy=False" in inspected, (
        "its health: /work_queues/{id}/status"
    )

    prefect.cli("work-queue", "pause", "urgent", "--pool", "wq-pool")
    assert api.read_queue("wq-pool", "urgent")["is_paused"] is True
    prefect.cli("work-queue", "resume", "urgent", "--pool", "wq-pool")
    assert api.read_queue("wq-pool", "urgent")["is_paused"] is False
    prefect.cli("work-queue", "set-concurrency-limit", "urgent", "7", "--pool", "wq-pool")
    assert api.read_queue("wq-pool", "urgent")["concurrency_limit"] == 7
    prefect.cli("work-queue", "clear-concurrency-limit", "urgent", "--pool", "wq-pool")
    assert api.read_queue("wq-pool", "urgent")["concurrency_limit"] is None
    prefect.cli("work-queue", "preview", "urgent", "--pool", "wq-pool")
    prefect.cli("work-queue", "delete", "bulk", "--pool", "wq-pool")
    assert sorted(q["name"] for q in api.list_queues("wq-pool")) == ["default", "urgent"]

    # pushpool refuses to delete a pool's default queue (Prefect's server answers 500):
    # Prefect's CLI shows pushpool's reason, and nothing changes.
    refused = prefect.cli("work-queue", "delete", "default", "--pool", "wq-pool", code=1)
    assert "cannot be deleted; pause it, or delete the work pool" in refused
    assert "500" not in refused
    assert "default" in [q["name"] for q in api.list_queues("wq-pool")]


def test_prefect_deployment_and_flow_run_commands(prefect: Prefect, api: Client):
    api.create_pool(name="dep-pool", type="process")
    deployment = pushpool.deploy(
        "flows/etl.py:etl",
        name="nightly",
        work_pool_name="dep-pool",
        parameters={"day": "monday"},
        client=api,
    )
    assert "etl/nightly" in prefect.cli("deployment", "ls")
    assert deployment["id"] in prefect.cli("deployment", "inspect", "etl/nightly")

    prefect.cli("deployment", "run", "etl/nightly", "--param", "day=friday")
    (run,) = api.list_runs(deployments={"id": {"any_": [deployment["id"]]}})
    assert (run["state_type"], run["parameters"]) == ("SCHEDULED", {"day": "friday"})

    assert run["id"] in prefect.cli("flow-run", "ls")
    assert run["name"] in prefect.cli("flow-run", "inspect", run["id"])
    prefect.cli("flow-run", "cancel", run["id"])
    assert api.read_run(run["id"])["state_type"] == "CANCELLED"

    missing = prefect.cli("flow-run", "inspect", "00000000-0000-0000-0000-000000000000", code=1)
    assert "not found" in missing


def test_a_prefect_client_script_works_unchanged(prefect: Prefect, api: Client):
    seen = prefect.script("client-pool")

    pool = api.read_pool("client-pool")
    assert seen["pool"] == {
        "id": pool["id"],
        "read_id": pool["id"],
        "description": "from prefect",
        "limit": 7,
        "listed": ["client-pool"],
    }
    urgent = api.read_queue("client-pool", "urgent")
    assert seen["queues"] == {
        "created": urgent["id"],
        "by_name": urgent["id"],
        "names": ["default", "urgent"],
    }
    assert (urgent["priority"], urgent["concurrency_limit"]) == (1, 3)

    deployment = api.read_deployment_by_name("etl", "nightly-client")
    assert seen["deployment"]["id"] == seen["deployment"]["by_name"] == deployment["id"]
    assert seen["deployment"]["listed"] == [deployment["id"]]
    assert (deployment["work_queue_name"], deployment["entrypoint"]) == (
        "urgent",
        "flows/etl.py:etl",
    )
    assert deployment["job_variables"] == {"env": {"A": "1"}}

    run, other = api.read_run(seen["runs"]["run"]), api.read_run(seen["runs"]["other"])
    assert (run["state_type"], other["state_type"]) == ("RUNNING", "CANCELLED")
    assert seen["runs"]["running"] == [run["id"]]
    assert seen["runs"]["of_deployment"] == sorted([run["id"], other["id"]])
    assert run["parameters"] == seen["runs"]["parameters"] == {"day": "tuesday"}
    assert run["job_variables"] == {"env": {"B": "2"}}
    assert run["work_queue_name"] == "urgent"


def test_what_pushpool_does_not_have_is_refused_by_name_not_ignored(prefect: Prefect, api: Client):
    api.create_pool(name="odd-pool")
    flow = api.create_flow("odd")
    body = {"name": "d", "flow_id": flow["id"], "work_pool_name": "odd-pool"}
    for field, value in (("concurrency_limit", 2), ("storage_document_id", "x")):
        try:
            api.create_deployment({**body, field: value})
        except ApiError as exc:
            assert exc.status == 422 and field in exc.detail
        else:
            raise AssertionError(f"{field}={value!r} was accepted")
    try:
        api.list_runs(flow_runs={"tags": {"all_": ["x"]}})
    except ApiError as exc:
        assert "does not filter on this" in exc.detail
    else:
        raise AssertionError("an unsupported filter was ignored")
    assert api.list_deployments(flows={"name": {"any_": ["odd"]}}) == []
