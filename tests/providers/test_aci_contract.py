"""The shared provider contract, run against Azure Container Instances: the official SDK
over HTTP against the fake ARM."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.aci import AciProvider
from tests.fakes.arm_server import FakeArm
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.test_aci import aci_job, credential, fake, provider  # noqa: F401 (fixtures)


class AciHarness(ProviderHarness):
    def __init__(self, fake: FakeArm, provider: AciProvider) -> None:  # noqa: F811
        self.fake = fake
        self.provider = provider

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return aci_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.groups_created

    def backend_requests(self) -> int:
        return len(self.fake.state.requests)

    def start(self, infra_id: str) -> None:
        self.fake.start(infra_id)

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.finish(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        self.fake.fail_to_start(
            infra_id, 'Failed to pull image "acme.azurecr.io/flows:1.2": manifest unknown'
        )
        return "manifest unknown"

    def vanish(self, infra_id: str) -> None:
        self.fake.remove(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        if retryable:
            self.fake.fail_requests(status=503, code="ServiceUnavailable", message=message)
        else:
            self.fake.fail_requests(status=409, code="ResourceQuotaExceeded", message=message)

    def heal(self) -> None:
        self.fake.heal()


class TestAciContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeArm, provider: AciProvider) -> ProviderHarness:  # noqa: F811
        return AciHarness(fake, provider)
