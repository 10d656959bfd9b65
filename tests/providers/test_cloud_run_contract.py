"""The shared provider contract, run against Cloud Run v2: the official client over HTTP
against the fake Admin API."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.cloud_run import CloudRunProvider
from tests.fakes.cloud_run_server import FakeCloudRun
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.test_cloud_run import cloud_run_job, fake, provider  # noqa: F401 (fixtures)


class CloudRunHarness(ProviderHarness):
    def __init__(self, fake: FakeCloudRun, provider: CloudRunProvider) -> None:  # noqa: F811
        self.fake = fake
        self.provider = provider

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return cloud_run_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.executions_started

    def backend_requests(self) -> int:
        return len(self.fake.state.requests)

    def start(self, infra_id: str) -> None:
        self.fake.start(infra_id)

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.finish(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        self.fake.fail_to_start(infra_id, "Image 'ghcr.io/acme/flows:1.2' not found.")
        return "not found"

    def vanish(self, infra_id: str) -> None:
        self.fake.remove(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        if retryable:
            self.fake.fail_requests(code=503, status="UNAVAILABLE", message=message)
        else:
            self.fake.fail_requests(code=400, status="INVALID_ARGUMENT", message=message)

    def heal(self) -> None:
        self.fake.heal()


class TestCloudRunContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeCloudRun, provider: CloudRunProvider) -> ProviderHarness:  # noqa: F811
        return CloudRunHarness(fake, provider)
