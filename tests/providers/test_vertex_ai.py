"""Vertex AI: the official ``aiplatform_v1`` client, over HTTP, against the fake API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from core.errors import InfrastructureError
from core.ports import InfraPhase, Job
from providers.registry import load_provider
from providers.vertex_ai import VertexAIProvider, make_provider
from tests.fakes.vertex_ai_server import CANCELLED, PROJECT_NUMBER, FakeVertexAI
from tests.providers.contract import make_job, run

CONFIGURATION = {
    "project": "demo-project",
    "region": "europe-west4",
    "command": "python -m pushpool_flow_runner",
    "env": {"PUSHPOOL_FLOW_RUN_ID": "set-per-run", "LOG_LEVEL": "INFO"},
    "labels": {"pushpool.io/work-pool": "vertex", "team": "Data Eng"},
    "image": "europe-docker.pkg.dev/demo-project/flows/flow:1.2",
    "job_spec": {
        "service_account_name": "flows@demo-project.iam.gserviceaccount.com",
        "maximum_run_time_hours": 2,
        "worker_pool_specs": [
            {
                "replica_count": 1,
                "container_spec": {"image_uri": "python:3.12-slim", "args": []},
                "machine_spec": {"machine_type": "n1-standard-4"},
                "disk_spec": {"boot_disk_type": "pd-ssd", "boot_disk_size_gb": 100},
            }
        ],
    },
    "job_watch_poll_interval": 5.0,
}


def vertex_job(*, run_id: str | None = None, attempt: int = 1, **overrides: object) -> Job:
    return make_job(
        CONFIGURATION | overrides, run_id=run_id, attempt=attempt, pool_type="vertex-ai"
    )


@pytest.fixture
def fake() -> Iterator[FakeVertexAI]:
    with FakeVertexAI() as server:
        yield server


@pytest.fixture
def provider(fake: FakeVertexAI) -> Iterator[VertexAIProvider]:
    provider = make_provider(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
        request_timeout=5,
    )
    yield provider
    provider.clients.close()


def test_the_registry_serves_vertex_ai_pools_with_this_provider():
    provider = load_provider("vertex-ai", credentials=AnonymousCredentials())
    assert isinstance(provider, VertexAIProvider)


def test_the_custom_job_carries_the_flow_container_labels_and_limits(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    job = vertex_job(run_id="6F1C2A6E-Run", attempt=2)
    name = run(provider, job)

    assert name.startswith(f"projects/{PROJECT_NUMBER}/locations/europe-west4/customJobs/")
    (create,) = fake.requests_to("POST", r"/customJobs$")
    assert create.path == "projects/demo-project/locations/europe-west4/customJobs"
    body = create.body
    assert body["displayName"] == "contract-run-6F1C2A6E-Run-2"
    assert body["labels"] == {
        "pushpool-run-id": "6f1c2a6e-run",
        "pushpool-attempt": "2",
        "pushpool_io_work-pool": "vertex",
        "team": "data_eng",
    }
    spec = body["jobSpec"]
    assert spec["serviceAccount"] == "flows@demo-project.iam.gserviceaccount.com"
    assert spec["scheduling"] == {"timeout": "7200s"}
    container = spec["workerPoolSpecs"][0]["containerSpec"]
    assert container["imageUri"] == CONFIGURATION["image"]
    assert container["command"] == ["python", "-m", "pushpool_flow_runner"]
    assert {"name": "LOG_LEVEL", "value": "INFO"} in container["env"]


def test_a_resubmit_finds_the_job_by_its_labels_even_after_it_finished(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    job = vertex_job()
    name = run(provider, job)
    fake.start(name)
    fake.finish(name, 0)

    assert run(provider, job) == name
    assert fake.state.jobs_created == 1
    (listing, *_) = fake.requests_to("GET", r"/customJobs$")
    assert listing.query["filter"] == [
        f'labels.pushpool-run-id="{job.run_id}" AND labels.pushpool-attempt="1"'
    ]


def test_concurrent_submits_of_one_attempt_converge_on_one_live_job(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    job = vertex_job()
    fake.state.create_delay = 0.3  # both submits look up before either job exists
    barrier = threading.Barrier(2)
    names: list[str] = []

    def submit() -> None:
        barrier.wait(timeout=5)
        names.append(run(provider, job))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)

    assert len(names) == 2 and names[0] == names[1]
    assert fake.state.jobs_created == 2  # the race happened
    assert [j["name"] for j in fake.live_jobs()] == [names[0]]


def test_a_failed_container_reports_the_exit_status_vertex_ai_gives(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    name = run(provider, vertex_job())
    fake.start(name)
    fake.finish(name, 137)

    status = provider.status(name)
    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 137)
    assert "non-zero status of 137" in status.reason


def test_cancel_is_requested_and_the_job_ends_cancelled(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    name = run(provider, vertex_job())
    fake.start(name)
    provider.cancel(name)

    assert provider.status(name).phase is InfraPhase.RUNNING  # CANCELLING: still on its machines
    fake.settle_cancel(name)
    assert fake.state.custom_jobs[name]["state"] == CANCELLED
    assert provider.status(name).phase is InfraPhase.CANCELLED


def test_a_configuration_without_a_project_or_image_is_refused_before_any_request(
    fake: FakeVertexAI, provider: VertexAIProvider
):
    for broken, fragment in (({"project": None}, "project"), ({"image": None}, "image")):
        config = CONFIGURATION | broken
        config["job_spec"] = {"worker_pool_specs": [{"machine_spec": {"machine_type": "n1"}}]}
        with pytest.raises(InfrastructureError, match=fragment) as raised:
            provider.build_request(make_job(config, pool_type="vertex-ai"))
        assert raised.value.retryable is False
    assert fake.state.requests == []


def test_a_field_vertex_ai_does_not_know_is_a_terminal_error_naming_it(
    provider: VertexAIProvider,
):
    config = CONFIGURATION | {"job_spec": {**CONFIGURATION["job_spec"], "gpu_please": True}}
    with pytest.raises(InfrastructureError, match="gpu_please") as raised:
        provider.build_request(make_job(config, pool_type="vertex-ai"))
    assert raised.value.retryable is False


def test_the_service_account_key_names_the_default_project_and_bad_keys_are_refused():
    with pytest.raises(InfrastructureError, match="not valid JSON") as raised:
        make_provider(secret="{not json")
    assert raised.value.retryable is False


def test_without_an_explicit_endpoint_each_region_gets_its_regional_endpoint():
    provider = make_provider(credentials=AnonymousCredentials())
    client = provider.clients.for_resource("projects/p/locations/asia-northeast1/customJobs/1")
    assert client.api_endpoint == "asia-northeast1-aiplatform.googleapis.com"
    assert provider.clients.for_resource("projects/p/locations/asia-northeast1") is client
    provider.clients.close()
