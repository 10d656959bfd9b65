"""The docker provider: the real Docker SDK over a Unix socket to a fake Engine API."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.docker import DockerProvider, build_request, make_provider
from tests.fakes.docker_engine import STDERR, FakeDockerEngine
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden

RUN_ID = "0b5a3c1e-7d2f-4e8a-9c61-2f3e4d5a6b7c"


def job(configuration: dict[str, Any], *, run_id: str = RUN_ID, attempt: int = 1) -> Job:
    base = {"image": "busybox", "command": "python -m flow", "env": {}, "labels": {}}
    return make_job(
        {**base, **configuration},
        run_id=run_id,
        attempt=attempt,
        pool_type="docker",
        run_name="crimson-fox",
    )


@pytest.fixture
def engine():
    with FakeDockerEngine() as engine:
        yield engine


@pytest.fixture
def output() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def provider(engine: FakeDockerEngine, output: io.StringIO) -> DockerProvider:
    return make_provider(base_url=engine.base_url, output=output, timeout=10)


def submit(provider: DockerProvider, the_job: Job) -> str:
    return provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)


# -- build_request ------------------------------------------------------------------------


def test_build_request_maps_every_variable_onto_containers_create():
    request = build_request(
        job(
            {
                "name": "nightly etl",
                "image": "registry.example.com/team/flow:1",
                "image_pull_policy": "Always",
                "command": "python -m flows.etl --date '2026-01-01 00:00'",
                "env": {"PUSHPOOL_FLOW_RUN_ID": RUN_ID, "RETRIES": 3, "GONE": None},
                "labels": {"team": "data", "pushpool.io/flow-run-id": RUN_ID},
                "networks": ["backend", "monitoring"],
                "volumes": ["/srv/data:/data:ro"],
                "mem_limit": "512m",
                "auto_remove": True,
                "stream_output": False,
                "registry_credentials": {
                    "username": "robot",
                    "password": "s3cret",
                    "registry_url": "registry.example.com",
                },
                "container_create_kwargs": {"user": "1000", "labels": {"overridden": "yes"}},
            },
            attempt=2,
        )
    )
    assert request.registry is not None and request.registry["password"] == "s3cret"
    assert_golden("docker_full.json", request.as_json())


def test_build_request_with_the_defaults_of_a_plain_template():
    request = build_request(job({"command": ["echo", "hi"], "network_mode": "host"}))
    assert_golden("docker_defaults.json", request.as_json())


def test_the_container_name_is_a_valid_docker_name_from_run_id_and_attempt():
    odd = job({"name": "  my flow/run: #1 "}, attempt=3)
    assert build_request(odd).name == f"my-flow-run-1-{RUN_ID}-3"
    assert build_request(job({}, attempt=4)).name == f"crimson-fox-{RUN_ID}-4"


@pytest.mark.parametrize(
    ("configuration", "fragment"),
    [
        ({"image": ""}, "needs an image"),
        ({"image_pull_policy": "Sometimes"}, "image_pull_policy"),
        ({"registry_credentials": {"password": "x"}}, "registry_credentials"),
    ],
)
def test_an_unusable_configuration_is_a_terminal_error(configuration, fragment):
    with pytest.raises(InfrastructureError) as raised:
        build_request(job(configuration))
    assert raised.value.retryable is False
    assert fragment in str(raised.value)


# -- submit ------------------------------------------------------------------------------


def test_submit_creates_and_starts_the_container_the_request_describes(provider, engine):
    engine.networks |= {"backend", "monitoring"}
    the_job = job(
        {
            "env": {"A": "1"},
            "labels": {"team": "data"},
            "networks": ["backend", "monitoring"],
            "volumes": ["/srv/data:/data:ro"],
            "mem_limit": "512m",
        }
    )

    infra_id = submit(provider, the_job)

    container = engine.containers[infra_id]
    assert container.name == f"crimson-fox-{RUN_ID}-1"
    assert container.status == "running"
    assert container.config["Cmd"] == ["python", "-m", "flow"]
    assert container.config["Env"] == ["A=1"]
    assert container.config["Labels"] == {
        "team": "data",
        "pushpool.io/flow-run-id": RUN_ID,
        "pushpool.io/attempt": "1",
    }
    assert container.host_config["Binds"] == ["/srv/data:/data:ro"]
    assert container.host_config["Memory"] == 512 * 1024 * 1024
    assert container.host_config["NetworkMode"] == "backend"
    assert set(container.networks) == {"backend", "monitoring"}


def test_a_missing_image_is_pulled_then_the_container_created(provider, engine):
    infra_id = submit(provider, job({"image": "python:3.12-slim"}))

    assert "python:3.12-slim" in engine.images
    assert engine.containers[infra_id].status == "running"


def test_pull_policy_always_pulls_even_a_present_image(provider, engine):
    submit(provider, job({"image_pull_policy": "Always"}))

    assert ("POST", "/images/create") in engine.requests


def test_pull_policy_never_refuses_a_missing_image(provider, engine):
    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job({"image": "python:3.12-slim", "image_pull_policy": "Never"}))

    assert raised.value.retryable is False
    assert "Never" in str(raised.value)
    assert engine.created == 0


def test_an_image_the_registry_does_not_have_is_a_terminal_error(provider, engine):
    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job({"image": "flows/missing:9"}))

    assert raised.value.retryable is False
    assert "manifest unknown" in str(raised.value)


def test_registry_credentials_log_in_before_pulling_a_private_image(provider, engine):
    engine.credentials["registry.example.com"] = ("robot", "s3cret")
    engine.registry.add("registry.example.com/team/flow:1")
    credentials = {
        "username": "robot",
        "password": "s3cret",
        "registry_url": "registry.example.com",
    }

    infra_id = submit(
        provider,
        job({"image": "registry.example.com/team/flow:1", "registry_credentials": credentials}),
    )

    assert engine.containers[infra_id].status == "running"
    assert engine.requests.index(("POST", "/auth")) < engine.requests.index(
        ("POST", "/images/create")
    )


def test_wrong_registry_credentials_are_a_terminal_error(provider, engine):
    engine.credentials["registry.example.com"] = ("robot", "s3cret")
    credentials = {"username": "robot", "password": "guess", "registry_url": "registry.example.com"}

    with pytest.raises(InfrastructureError) as raised:
        submit(
            provider,
            job({"image": "registry.example.com/team/flow:1", "registry_credentials": credentials}),
        )

    assert raised.value.retryable is False
    assert "incorrect username or password" in str(raised.value)


def test_a_second_submit_adopts_the_container_of_the_first(provider, engine):
    the_job = job({})

    first = submit(provider, the_job)
    again = submit(make_provider(base_url=engine.base_url), the_job)  # a restarted worker

    assert again == first
    assert engine.created == 1


def test_a_container_of_the_same_name_from_another_run_is_not_adopted(provider, engine):
    the_job = job({})
    engine.create(build_request(the_job).name, {"Image": "busybox", "Labels": {}})

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, the_job)

    assert raised.value.retryable is False
    assert "belongs to another run" in str(raised.value)


def test_a_submit_interrupted_after_create_starts_the_container_on_retry(provider, engine):
    the_job = job({})
    engine.create(
        build_request(the_job).name,
        {"Image": "busybox", "Labels": {"pushpool.io/flow-run-id": RUN_ID}},
    )

    infra_id = submit(provider, the_job)

    assert engine.containers[infra_id].status == "running"
    assert engine.created == 1


def test_a_container_that_cannot_start_is_a_terminal_error_at_submit(provider, engine):
    engine.auto_start_fails = 'exec: "python": executable file not found in $PATH: unknown'

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job({}))

    assert raised.value.retryable is False
    assert "executable file not found" in str(raised.value)


# -- status ------------------------------------------------------------------------------


def test_status_follows_inspect_from_running_to_its_exit_code(provider, engine):
    infra_id = submit(provider, job({}))
    assert provider.status(infra_id) == InfraStatus(phase=InfraPhase.RUNNING)

    engine.exit(infra_id, 3)

    assert provider.status(infra_id) == InfraStatus(phase=InfraPhase.EXITED, exit_code=3)
    assert infra_id in engine.containers  # auto_remove is off: the container is kept


def test_an_oom_killed_container_is_crashed(provider, engine):
    infra_id = submit(provider, job({}))

    engine.exit(infra_id, 137, oom_killed=True)

    assert provider.status(infra_id) == InfraStatus(
        phase=InfraPhase.CRASHED, exit_code=137, reason="OOM-killed"
    )


def test_auto_remove_removes_the_container_after_reading_its_exit_code(provider, engine):
    infra_id = submit(provider, job({"auto_remove": True}))
    engine.exit(infra_id, 0)

    first = provider.status(infra_id)
    again = make_provider(base_url=engine.base_url).status(infra_id)

    assert first == InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
    assert provider.status(infra_id) == first
    assert infra_id not in engine.containers
    assert again.phase is InfraPhase.CRASHED  # another worker can no longer see it


def test_a_container_removed_behind_the_workers_back_is_crashed_as_vanished(provider, engine):
    infra_id = submit(provider, job({}))

    engine.vanish(infra_id)

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "vanished" in status.reason


def test_wait_blocks_until_the_container_stops(provider, engine):
    infra_id = submit(provider, job({}))
    engine.exit(infra_id, 0)

    assert provider.wait(infra_id, timeout=5) == InfraStatus(phase=InfraPhase.EXITED, exit_code=0)


def test_stream_output_copies_stdout_and_stderr_with_the_run_prefix(provider, engine, output):
    infra_id = submit(provider, job({"name": "etl", "stream_output": True}))
    engine.log(infra_id, "starting\nhalf a ")
    engine.log(infra_id, "line\n")
    engine.log(infra_id, "warning: slow\n", stream=STDERR)
    engine.exit(infra_id, 0)

    deadline = time.monotonic() + 5
    while output.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    assert output.getvalue().splitlines() == [
        "[etl] starting",
        "[etl] half a line",
        "[etl] warning: slow",
    ]


def test_no_output_is_echoed_when_stream_output_is_off_but_it_is_kept_for_the_runs_logs(
    provider, engine, output
):
    infra_id = submit(provider, job({"stream_output": False}))
    engine.log(infra_id, "quiet\n")
    engine.exit(infra_id, 0)

    assert provider.wait(infra_id, timeout=5).exit_code == 0
    deadline = time.monotonic() + 5
    while not provider.read_logs(infra_id).lines and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [line.message for line in provider.read_logs(infra_id).lines] == ["quiet"]
    assert output.getvalue() == ""


def test_the_containers_output_is_read_on_from_the_last_line_seen(provider, engine):
    infra_id = submit(provider, job({"stream_output": False}))
    engine.log(infra_id, "one\ntw")
    engine.log(infra_id, "o\n")
    engine.log(infra_id, "on stderr\n", stream=STDERR)

    def read_until(count: int, after: str | None = None):
        deadline = time.monotonic() + 5
        chunk = provider.read_logs(infra_id, after=after)
        while len(chunk.lines) < count and time.monotonic() < deadline:
            time.sleep(0.02)
            chunk = provider.read_logs(infra_id, after=after)
        return chunk

    first = read_until(3)
    assert [line.message for line in first.lines] == ["one", "two", "on stderr"]
    engine.log(infra_id, "last\n")
    engine.exit(infra_id, 0)
    assert [line.message for line in read_until(1, first.cursor).lines] == ["last"]
    assert provider.read_logs("not-a-container-of-ours").lines == ()


# -- cancel and errors ---------------------------------------------------------------------


def test_cancel_stops_the_container_and_ends_cancelled(provider, engine):
    infra_id = submit(provider, job({}))

    provider.cancel(infra_id)

    assert engine.containers[infra_id].status == "exited"
    assert provider.status(infra_id).phase is InfraPhase.CANCELLED


def test_cancel_escalates_to_kill_for_a_container_that_ignores_sigterm(provider, engine):
    infra_id = submit(provider, job({"auto_remove": True}))
    engine.containers[infra_id].ignores_sigterm = True

    provider.cancel(infra_id)

    status = provider.status(infra_id)
    assert (status.phase, status.exit_code) == (InfraPhase.CANCELLED, 137)
    assert infra_id not in engine.containers


def test_server_errors_are_retryable_and_client_errors_terminal(provider, engine):
    engine.fail_with(500, "containerd is restarting")
    with pytest.raises(InfrastructureError) as server_error:
        submit(provider, job({}))

    engine.fail_with(403, "operation not permitted by the authorization plugin")
    with pytest.raises(InfrastructureError) as client_error:
        submit(provider, job({}))

    assert server_error.value.retryable is True
    assert client_error.value.retryable is False
    assert "authorization plugin" in str(client_error.value)


def test_an_unreachable_daemon_is_a_retryable_error(tmp_path):
    provider = make_provider(base_url=f"unix://{tmp_path}/nothing.sock", timeout=2)

    with pytest.raises(InfrastructureError) as raised:
        provider.status("f" * 64)

    assert raised.value.retryable is True
