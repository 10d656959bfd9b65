"""The shared provider contract, run against Cloud Run v2: the official client over HTTP
against the fake Admin API."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.cloud_run import CloudRunProvider
from tests.fakes.cloud_run_server import FakeCloudRun
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.served_fake_harness import ServedFakeHarness
from tests.providers.test_cloud_run import cloud_run_job, fake, provider  # noqa: F401 (fixtures)


class CloudRunHarness(ServedFakeHarness):
    fake: FakeCloudRun
    pull_failure = ("Image 'ghcr.io/acme/flows:1.2' not found.", "not found")
    retryable_fault = {"code": 503, "status": "UNAVAILABLE"}
    terminal_fault = {"code": 400, "status": "INVALID_ARGUMENT"}

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return cloud_run_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.executions_started


class TestCloudRunContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeCloudRun, provider: CloudRunProvider) -> ProviderHarness:  # noqa: F811
        return CloudRunHarness(fake, provider)
