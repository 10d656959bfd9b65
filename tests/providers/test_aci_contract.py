"""The shared provider contract, run against Azure Container Instances: the official SDK
over HTTP against the fake ARM."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.aci import AciProvider
from tests.fakes.arm_server import FakeArm
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.served_fake_harness import ServedFakeHarness
from tests.providers.test_aci import aci_job, credential, fake, provider  # noqa: F401 (fixtures)


class AciHarness(ServedFakeHarness):
    fake: FakeArm
    pull_failure = (
        'Failed to pull image "acme.azurecr.io/flows:1.2": manifest unknown',
        "manifest unknown",
    )
    retryable_fault = {"status": 503, "code": "ServiceUnavailable"}
    terminal_fault = {"status": 409, "code": "ResourceQuotaExceeded"}

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return aci_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.groups_created


class TestAciContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeArm, provider: AciProvider) -> ProviderHarness:  # noqa: F811
        return AciHarness(fake, provider)
