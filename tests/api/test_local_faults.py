"""`pushpool server` under configuration faults (issue 13): one clear line,
the run ended, every background loop still alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.ports import InfraPhase, InfraStatus, Job
from handlers.bootstrap import bootstrap
from handlers.local.loops import LocalStack, LocalTrigger
from handlers.local.server import Stack
from providers.registry import REGISTRY
from tests.api.support import (
    Env,
    LiveApi,
    local_server,
    make_deployment,
    make_env,
    make_pool,
    make_run,
    ok,
)
from tests.api.test_local_server import FlakyPush, wait_for
from tests.contract import backends
from tests.contract.fixtures import moto_server, store_url

__all__ = ["moto_server", "store_url"]


@pytest.fixture
def no_aws_region(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


@pytest.fixture
def plain(tmp_path: Path, no_aws_region: None) -> Iterator[tuple[Stack, httpx.Client]]:
    with local_server(tmp_path, tick_seconds=0.5) as served:
        yield served


def test_a_push_pool_without_a_region_crashes_its_run_with_one_clear_line(
    plain: tuple[Stack, httpx.Client], caplog: pytest.LogCaptureFixture
):
    """Fault 4: the run stayed PENDING for good, the log filled with
    ``NoRegionError`` tracebacks and the observe thread died."""
    _, http = plain
    caplog.set_level(logging.INFO)
    make_pool(http, "cloud", type="ecs:push")
    deployment = make_deployment(http, "cloud", job_variables={"image": "busybox"})
    runs = [make_run(http, deployment["id"]) for _ in range(2)]

    for run in runs:
        ended = wait_for(
            lambda run=run: (
                (r := ok(http.get(f"/flow_runs/{run['id']}")))["state_type"] == "CRASHED" and r
            )
        )
        assert "NoRegionError" in ended["state"]["message"]
        assert "region" in ended["state"]["message"]
        assert ended["attempt"] == 1
    assert ok(http.get("/work_pools/cloud"))["active_slots"] == 0
    wait_for(lambda: ok(http.get("/work_pools/cloud")) and True, timeout=1.5)  # a few passes
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]
    alive = {t.name for t in threading.enumerate()}
    assert {"pushpool-observe", "pushpool-tick", "pushpool-dispatch"} <= alive


@pytest.fixture
def flaky(tmp_path: Path) -> Iterator[tuple[Stack, httpx.Client]]:
    with local_server(tmp_path, tick_seconds=0.5, providers={"ecs:push": FlakyPush()}) as served:
        yield served


def test_a_submission_that_keeps_failing_retryably_ends_crashed_with_the_last_error(
    flaky: tuple[Stack, httpx.Client],
):
    _, http = flaky
    template = REGISTRY.default_template("ecs:push")
    template["variables"]["properties"]["submit_attempts"] = {"type": "integer", "default": 2}
    make_pool(http, "cloud", type="ecs:push", base_job_template=template)
    deployment = make_deployment(http, "cloud", job_variables={"image": "busybox"})
    run = make_run(http, deployment["id"])
    ended = wait_for(
        lambda: (r := ok(http.get(f"/flow_runs/{run['id']}")))["state_type"] == "CRASHED" and r,
        timeout=15,
    )
    assert ended["state"]["message"] == "Submission kept failing: throttled"
    assert ok(http.get("/work_pools/cloud"))["active_slots"] == 0


class StoppablePush:
    """A push provider whose infrastructure runs until it is cancelled."""

    emits_events = False
    supports_polling = True

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def build_request(self, job: Job) -> Any:
        return job.run_id

    def submit(self, request: Any, *, idempotency_key: str) -> str:
        return f"task-{request}"

    def status(self, infra_id: str) -> InfraStatus:
        if infra_id in self.stopped:
            return InfraStatus(phase=InfraPhase.EXITED, exit_code=143)
        return InfraStatus(phase=InfraPhase.RUNNING)

    def cancel(self, infra_id: str) -> None:
        self.stopped.append(infra_id)


def test_cancelling_a_push_run_locally_stops_it_through_the_dispatchers_stop_step(
    tmp_path: Path,
):
    provider = StoppablePush()
    with local_server(tmp_path, tick_seconds=0.5, providers={"ecs:push": provider}) as (_, http):
        make_pool(http, "cloud", type="ecs:push")
        deployment = make_deployment(http, "cloud", job_variables={"image": "busybox"})
        run = make_run(http, deployment["id"])
        wait_for(lambda: ok(http.get(f"/flow_runs/{run['id']}"))["state_type"] == "RUNNING")
        body = {"state": {"type": "CANCELLING"}}
        assert (
            ok(http.post(f"/flow_runs/{run['id']}/set_state", json=body), 201)["status"] == "ACCEPT"
        )
        wait_for(lambda: ok(http.get(f"/flow_runs/{run['id']}"))["state_type"] == "CANCELLED")
        assert provider.stopped[:1] == [f"task-{run['id']}"]
        assert ok(http.get("/work_pools/cloud"))["active_slots"] == 0


def test_a_push_pool_without_credentials_crashes_its_run_with_one_clear_line(
    tmp_path: Path, no_aws_region: None, monkeypatch: pytest.MonkeyPatch, caplog
):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    caplog.set_level(logging.INFO)
    with local_server(tmp_path, tick_seconds=0.5) as (_, http):
        make_pool(http, "cloud", type="ecs:push")
        deployment = make_deployment(http, "cloud", job_variables={"image": "busybox"})
        run = make_run(http, deployment["id"])
        ended = wait_for(
            lambda: (r := ok(http.get(f"/flow_runs/{run['id']}")))["state_type"] == "CRASHED" and r,
            timeout=20,
        )
        assert "credentials" in ended["state"]["message"].lower(), ended["state"]["message"]
        assert ok(http.get("/work_pools/cloud"))["active_slots"] == 0
        assert not [r for r in caplog.records if r.exc_info]


@pytest.fixture(params=backends.SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(live_api: LiveApi, tmp_path: Path, store_url: str) -> Env:
    return make_env(live_api, tmp_path, store_url=store_url)


def test_a_push_pool_whose_provider_cannot_be_built_reads_not_ready_until_a_pass_submits(
    world: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Fault 4's last symptom: the pool showed READY while every run crashed."""
    make_pool(world.http, "cloud", type="ecs:push")
    deployment = make_deployment(world.http, "cloud", job_variables={"image": "busybox"})
    first = make_run(world.http, deployment["id"])
    # The store's client is built; from here on the process has no AWS region,
    # so building the ECS provider raises botocore's NoRegionError.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))

    LocalStack(world.container, LocalTrigger(world.clock)).dispatch("cloud")

    assert ok(world.http.get(f"/flow_runs/{first['id']}"))["state_type"] == "CRASHED"
    failing = ok(world.http.get("/work_pools/cloud"))
    assert failing["status"] == "NOT_READY"
    assert "NoRegionError" in failing["status_reason"]
    assert "region" in failing["status_reason"].replace("NoRegionError", "")

    # The operator configures the provider (here: a server built with a working one).
    fixed = bootstrap(
        store=world.store,
        clock=world.clock,
        settings=world.container.settings,
        providers={"ecs:push": StoppablePush()},
    )
    second = make_run(world.http, deployment["id"])
    LocalStack(fixed, LocalTrigger(world.clock)).dispatch("cloud")

    assert ok(world.http.get(f"/flow_runs/{second['id']}"))["state_type"] == "PENDING"
    healthy = ok(world.http.get("/work_pools/cloud"))
    assert (healthy["status"], healthy["status_reason"]) == ("READY", None)
