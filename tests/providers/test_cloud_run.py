"""Cloud Run v2: the official client, over HTTP, against the fake Admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from google.auth.credentials import AnonymousCredentials

from core.errors import InfrastructureError
from core.ports import InfraPhase, Job
from providers.cloud_run import CloudRunProvider, make_provider
from providers.cloud_run.request import ATTEMPT_LABEL
from providers.cloud_run.status import FAILED
from providers.shared import dns_name
from tests.fakes.cloud_run_server import FakeCloudRun
from tests.providers.contract import make_job, run

CONFIGURATION = {
    "project": "demo-project",
    "region": "europe-west1",
    "image": "ghcr.io/acme/flows:1.2",
    "command": "python -m pushpool_flow_runner",
    "env": {"PUSHPOOL_FLOW_RUN_ID": "set-per-run", "LOG_LEVEL": "INFO"},
    "labels": {"pushpool.io/work-pool": "gcp", "team": "Data Eng"},
    "cpu": "1000m",
    "memory": "512Mi",
    "timeout": 600,
    "max_retries": 0,
    "service_account_name": "flows@demo-project.iam.gserviceaccount.com",
    "vpc_connector_name": "projects/demo-project/locations/europe-west1/connectors/flows",
    "keep_job": False,
}


def cloud_run_job(*, run_id: str | None = None, attempt: int = 1, **overrides: object) -> Job:
    return make_job(
        CONFIGURATION | overrides, run_id=run_id, attempt=attempt, pool_type="cloud-run-v2:push"
    )


@pytest.fixture
def fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun() as server:
        yield server


@pytest.fixture
def provider(fake: FakeCloudRun) -> Iterator[CloudRunProvider]:
    provider = make_provider(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
        request_timeout=5,
        create_timeout=5,
        poll_interval=0.01,
    )
    yield provider
    for name in ("jobs", "executions", "tasks"):
        client = vars(provider.clients).get(name)
        if client is not None:
            client.transport.close()


# -- submission ------------------------------------------------------------------------------


def test_the_job_id_is_derived_from_run_and_attempt_and_is_a_valid_cloud_run_id(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    job = cloud_run_job(run_id="6F1C2A6E-Run_With Odd/Chars" * 3, attempt=2)
    execution = run(provider, job)

    job_id = execution.split("/jobs/")[1].split("/")[0]
    assert job_id == dns_name(job.idempotency_key)
    assert len(job_id) <= 63 and job_id[0].isalpha() and job_id == job_id.lower()
    assert execution.startswith(f"projects/demo-project/locations/europe-west1/jobs/{job_id}/")


def test_submit_waits_for_the_create_operation_before_running_the_job(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    fake.state.create_polls = 2
    execution = run(provider, cloud_run_job())

    assert len(fake.requests_to("GET", r"/operations/")) == 3
    assert execution in fake.state.executions


def test_a_create_operation_that_never_finishes_is_a_retryable_timeout(fake: FakeCloudRun):
    slow = make_provider(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
        create_timeout=0.2,
        poll_interval=0.05,
    )
    fake.state.create_polls = 1000
    job = cloud_run_job()

    with pytest.raises(InfrastructureError) as raised:
        run(slow, job)
    assert raised.value.retryable is True
    assert fake.state.executions_started == 0


def test_a_job_left_by_an_interrupted_submit_is_found_and_run_once(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    job = cloud_run_job()
    request = provider.build_request(job)
    job_id = dns_name(job.idempotency_key)
    provider.clients.jobs.create_job(parent=request.parent, job=request.job, job_id=job_id)

    first = run(provider, job)
    second = run(provider, job)

    assert first == second
    assert fake.state.executions_started == 1
    assert len(fake.requests_to("POST", r"/jobs$")) == 3  # the interrupted one and two 409s


def test_an_execution_of_the_job_for_another_attempt_is_not_reused(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    job = cloud_run_job()
    first = run(provider, job)
    fake.state.executions[first]["labels"][ATTEMPT_LABEL] = "7"

    second = run(provider, job)

    assert second != first
    assert fake.state.executions_started == 2


def test_a_job_that_failed_to_become_ready_is_a_terminal_error_with_its_message(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    job = cloud_run_job()
    run(provider, job)
    name = next(iter(fake.state.jobs))
    fake.state.jobs[name]["terminalCondition"] = {
        "type": "Ready",
        "state": FAILED,
        "message": "Revision template is invalid: memory limit too high",
    }

    with pytest.raises(InfrastructureError) as raised:
        run(provider, cloud_run_job(run_id=job.run_id))
    assert raised.value.retryable is False
    assert "memory limit too high" in str(raised.value)


# -- status and cleanup ----------------------------------------------------------------------


def test_a_finished_job_is_deleted_and_its_outcome_still_reported(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    execution = run(provider, cloud_run_job())
    fake.start(execution)
    fake.finish(execution, 0)

    first = provider.status(execution)
    again = provider.status(execution)

    assert first.phase is InfraPhase.EXITED and first.exit_code == 0
    assert again == first
    assert fake.state.jobs == {}


def test_keep_job_leaves_the_job_and_its_executions_in_place(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    execution = run(provider, cloud_run_job(keep_job=True))
    fake.finish(execution, 4)

    status = provider.status(execution)

    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 4)
    assert len(fake.state.jobs) == 1 and execution in fake.state.executions


def test_a_cancelled_execution_is_reported_cancelled_then_its_job_deleted(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    execution = run(provider, cloud_run_job())
    fake.start(execution)

    provider.cancel(execution)

    assert provider.status(execution).phase is InfraPhase.CANCELLED
    assert fake.requests_to("POST", r":cancel$")
    assert fake.state.jobs == {}


def test_a_failure_to_delete_the_finished_job_does_not_hide_the_outcome(
    fake: FakeCloudRun, provider: CloudRunProvider
):
    execution = run(provider, cloud_run_job())
    fake.finish(execution, 0)
    fake.fail_requests(
        code=403, status="PERMISSION_DENIED", message="no run.jobs.delete", only=r"^DELETE .*/jobs/"
    )

    status = provider.status(execution)

    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 0)
    assert len(fake.state.jobs) == 1
    assert fake.requests_to("DELETE", r"/jobs/[^/]+$")


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        (429, "RESOURCE_EXHAUSTED", True),
        (500, "INTERNAL", True),
        (503, "UNAVAILABLE", True),
        (409, "ABORTED", True),
        (400, "INVALID_ARGUMENT", False),
        (403, "PERMISSION_DENIED", False),
        (400, "FAILED_PRECONDITION", False),
    ],
)
def test_api_errors_are_classified_by_http_code_and_status(
    fake: FakeCloudRun, provider: CloudRunProvider, code: int, status: str, retryable: bool
):
    message = f"the API says {status.lower()}"
    fake.fail_requests(code=code, status=status, message=message)

    with pytest.raises(InfrastructureError) as raised:
        run(provider, cloud_run_job())
    assert raised.value.retryable is retryable
    assert message in str(raised.value)


def test_an_unreachable_endpoint_is_retryable():
    unreachable = make_provider(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": "http://127.0.0.1:9"},
        request_timeout=2,
    )
    with pytest.raises(InfrastructureError) as raised:
        run(unreachable, cloud_run_job())
    assert raised.value.retryable is True


# -- credentials -----------------------------------------------------------------------------


def service_account_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "pushpool@demo-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
    )


def test_a_service_account_key_from_secrets_manager_becomes_the_clients_credentials():
    provider = make_provider(secret=service_account_key())

    credentials = provider.clients.jobs._transport._credentials
    assert credentials.service_account_email == "pushpool@demo-project.iam.gserviceaccount.com"
    assert "https://www.googleapis.com/auth/cloud-platform" in credentials.scopes


def test_a_malformed_service_account_key_is_a_terminal_error():
    with pytest.raises(InfrastructureError) as raised:
        make_provider(secret="{not json")
    assert raised.value.retryable is False


def test_making_the_provider_creates_no_client():
    provider = make_provider()
    assert "jobs" not in vars(provider.clients)
