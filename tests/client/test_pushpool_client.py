"""``import pushpool``: the public client and ``deploy`` against the real local API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pushpool
from pushpool import ApiError, Client, RunTimeout
from pushpool.deployments import entrypoint_of
from tests.api.support import Env
from tests.client import sample_flows

ROOT = Path(__file__).resolve().parents[2]


def test_import_pushpool_loads_none_of_the_server_and_says_its_version():
    probe = (
        "import sys, pushpool; "
        "print(pushpool.__version__); "
        "print(sorted(m for m in ('boto3', 'core', 'handlers', 'providers') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    version, loaded = done.stdout.split("\n")[:2]
    assert version == pushpool.__version__ != "0+unknown"
    assert loaded == "[]"


def test_pools_and_queues_round_trip_through_the_typed_client(api: Client):
    pool = api.create_pool(name="etl", type="process", concurrency_limit=3, description="d")
    assert (pool["name"], pool["type"], pool["concurrency_limit"]) == ("etl", "process", 3)
    queue = api.create_queue("etl", name="urgent", priority=1, concurrency_limit=2)
    assert [q["name"] for q in api.list_queues("etl")] == ["urgent", "default"]
    assert queue["priority"] == 1

    api.update_pool("etl", is_paused=True)
    read = api.read_pool("etl")
    assert read["is_paused"] is True
    assert read["concurrency_limit"] == 3, "a field not given is left as it was"
    api.update_pool("etl", concurrency_limit=None)
    assert api.read_pool("etl")["concurrency_limit"] is None, "None clears the limit"

    api.update_queue("etl", "urgent", new_name="hot", concurrency_limit=None)
    renamed = api.read_queue("etl", "hot")
    assert (renamed["id"], renamed["concurrency_limit"]) == (queue["id"], None)
    assert [p["name"] for p in api.list_pools(work_pools={"name": {"any_": ["etl"]}})] == ["etl"]
    api.delete_queue("etl", "hot")
    api.delete_pool("etl")
    with pytest.raises(ApiError) as missing:
        api.read_pool("etl")
    assert missing.value.status == 404
    assert "etl" in missing.value.detail


def test_refusals_carry_the_api_detail_and_change_nothing(api: Client):
    with pytest.raises(ApiError) as reserved:
        api.create_pool(name="prefect-pool")
    assert reserved.value.status == 403
    with pytest.raises(ApiError) as bad_limit:
        api.create_pool(name="p", concurrency_limit=-1)
    assert bad_limit.value.status == 422
    assert "concurrency_limit" in bad_limit.value.detail
    assert api.list_pools() == []


def test_deploy_a_function_like_prefects_flow_deploy(api: Client, monkeypatch):
    monkeypatch.chdir(ROOT)
    api.create_pool(name="local", type="process")
    deployment = pushpool.deploy(
        sample_flows.nightly_etl,
        name="nightly",
        work_pool_name="local",
        work_queue_name="batch",
        job_variables={"env": {"REGION": "eu"}},
        parameters={"day": "2026-01-01"},
        cron="0 3 * * *",
        timezone="Europe/Paris",
        client=api,
    )
    assert deployment["entrypoint"] == "tests/client/sample_flows.py:nightly_etl"
    assert deployment["flow_name"] == "nightly-etl"
    assert deployment["description"] == "Load one day of data."
    assert deployment["work_queue_name"] == "batch", "a named queue that is missing is created"
    assert deployment["job_variables"] == {
        "env": {"REGION": "eu"},
        "working_dir": str(ROOT),
    }, "a process pool's jobs run from the directory the entrypoint is relative to"
    assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 3 * * *"]
    assert deployment["schedules"][0]["schedule"]["timezone"] == "Europe/Paris"

    again = pushpool.deploy(
        "tests/client/sample_flows.py:nightly_etl",
        name="nightly",
        work_pool_name="local",
        client=api,
    )
    assert again["id"] == deployment["id"], "deploying the same flow and name updates it"
    assert again["schedules"] == []

    api.create_pool(name="ecs", type="ecs:push")
    pushed = pushpool.deploy("flows/etl.py:etl", name="n", work_pool_name="ecs", client=api)
    assert "working_dir" not in pushed["job_variables"], "an image has its own directory"
    chosen = {"working_dir": "/srv/etl"}
    kept = pushpool.deploy(
        "flows/etl.py:etl", name="n", work_pool_name="local", job_variables=chosen, client=api
    )
    assert kept["job_variables"] == chosen


def test_deploy_reads_the_api_from_the_environment(env: Env, monkeypatch):
    monkeypatch.setenv("PUSHPOOL_API_URL", env.api.url)
    with Client(env.api.url) as api:
        api.create_pool(name="local")
    deployment = pushpool.deploy("flows/etl.py:etl", name="d", work_pool_name="local")
    assert (deployment["flow_name"], deployment["work_queue_name"]) == ("etl", "default")


def test_deploy_refuses_what_it_cannot_name_before_calling_the_api(api: Client):
    with pytest.raises(ValueError, match=r"path/to/file\.py:function"):
        pushpool.deploy("etl", name="d", work_pool_name="local", client=api)
    with pytest.raises(ValueError, match="module-level function"):
        entrypoint_of(sample_flows.Holder.nested, root=ROOT)
    with pytest.raises(ApiError) as no_pool:
        pushpool.deploy("a.py:f", name="d", work_pool_name="nowhere", client=api)
    assert "nowhere" in no_pool.value.detail


def test_wait_for_run_returns_the_terminal_run_and_times_out_otherwise(api: Client):
    api.create_pool(name="local")
    deployment = pushpool.deploy("a.py:f", name="d", work_pool_name="local", client=api)
    run = api.create_flow_run(deployment["id"], parameters={"x": 1})
    assert run["state_type"] == "SCHEDULED"

    ticks = iter(range(100))
    with pytest.raises(RunTimeout) as late:
        api.wait_for_run(run["id"], timeout=3, sleep=lambda _: None, clock=lambda: next(ticks))
    assert late.value.run["state_type"] == "SCHEDULED"
    assert "still SCHEDULED" in str(late.value)

    api.set_state(run["id"], "CANCELLED", force=True)
    done = api.wait_for_run(run["id"], timeout=5, poll_interval=0.05)
    assert (done["id"], done["state_type"]) == (run["id"], "CANCELLED")
    assert done["parameters"] == {"x": 1}


def test_an_unreachable_api_says_where_it_looked():
    with Client("http://127.0.0.1:9/api", timeout=2) as api, pytest.raises(ApiError) as down:
        api.list_pools()
    assert down.value.status == 0
    assert "pushpool server" in down.value.detail
