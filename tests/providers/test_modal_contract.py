"""The shared provider contract, run against Modal: function calls and sandboxes on the
fake at the client seam."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.modal import make_provider
from tests.fakes.modal_client import FakeModal
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.test_modal import FUNCTION, SANDBOX, fake, modal_job  # noqa: F401 (fixtures)


class ModalHarness(ProviderHarness):
    def __init__(self, fake: FakeModal, configuration: dict[str, object]) -> None:  # noqa: F811
        self.fake = fake
        self.configuration = configuration
        self.provider = make_provider(client=fake)

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return modal_job(self.configuration, run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.infrastructure_started

    def backend_requests(self) -> int:
        return len(self.fake.requests)

    def start(self, infra_id: str) -> None:
        self.fake.start(infra_id)

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.finish(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        if infra_id.startswith("sb-"):
            pytest.skip("a sandbox whose image cannot start fails Sandbox.create: a submit error")
        self.fake.fail_to_start(infra_id, "ImportError: No module named 'flows'")
        return "No module named 'flows'"

    def vanish(self, infra_id: str) -> None:
        self.fake.vanish(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        self.fake.fail_requests(retryable=retryable, message=message)

    def heal(self) -> None:
        self.fake.heal()


class TestModalFunctionContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeModal) -> ProviderHarness:  # noqa: F811
        return ModalHarness(fake, FUNCTION)


class TestModalSandboxContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeModal) -> ProviderHarness:  # noqa: F811
        return ModalHarness(fake, SANDBOX)
