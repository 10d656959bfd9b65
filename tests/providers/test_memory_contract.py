"""The contract suite run against the in-memory reference provider.

Besides proving the suite can pass, the last tests prove it can fail: a
provider that forgets idempotency or hides an outage is caught.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from tests.fakes.memory_provider import MemoryBackend, MemoryProvider
from tests.providers.contract import ProviderContract, ProviderHarness, make_job


class MemoryHarness(ProviderHarness):
    def __init__(self, provider: MemoryProvider) -> None:
        self.provider = provider
        self.backend = provider.backend

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return make_job(
            {"command": "python -m flow", "env": {"A": "1"}}, run_id=run_id, attempt=attempt
        )

    def infrastructure_count(self) -> int:
        return self.backend.started

    def backend_requests(self) -> int:
        return self.backend.requests

    def _set(self, infra_id: str, **values: Any) -> None:
        infra = self.backend.infrastructures[infra_id]
        for name, value in values.items():
            setattr(infra, name, value)

    def start(self, infra_id: str) -> None:
        self._set(infra_id, phase=InfraPhase.RUNNING)

    def exit(self, infra_id: str, code: int) -> None:
        self._set(infra_id, phase=InfraPhase.EXITED, exit_code=code)

    def fail_to_start(self, infra_id: str) -> str:
        self._set(infra_id, phase=InfraPhase.CRASHED, reason="image not found: flows:missing")
        return "image not found"

    def vanish(self, infra_id: str) -> None:
        del self.backend.infrastructures[infra_id]

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        self.backend.failure = InfrastructureError(message, retryable=retryable)

    def heal(self) -> None:
        self.backend.failure = None


class TestMemoryProviderContract(ProviderContract):
    @pytest.fixture
    def harness(self) -> ProviderHarness:
        return MemoryHarness(MemoryProvider(MemoryBackend()))


class ForgetfulProvider(MemoryProvider):
    """Creates new infrastructure on every submit: what Prefect's push pools risk."""

    def submit(self, request: dict[str, Any], *, idempotency_key: str) -> str:
        count = len(self.backend.infrastructures)
        return super().submit(request, idempotency_key=f"{idempotency_key}-{count}")


class OptimisticProvider(MemoryProvider):
    """Reports RUNNING when the backend cannot be reached, instead of raising."""

    def status(self, infra_id: str) -> InfraStatus:
        try:
            return super().status(infra_id)
        except InfrastructureError:
            return InfraStatus(phase=InfraPhase.RUNNING)


def test_the_contract_catches_a_provider_that_is_not_idempotent():
    harness = MemoryHarness(ForgetfulProvider(MemoryBackend()))
    with pytest.raises(AssertionError):
        ProviderContract().test_resubmitting_with_the_same_key_returns_the_same_id_and_creates_nothing(
            harness
        )


def test_the_contract_catches_a_provider_that_hides_an_outage():
    harness = MemoryHarness(OptimisticProvider(MemoryBackend()))
    with pytest.raises(pytest.fail.Exception):
        ProviderContract().test_status_during_an_outage_raises_retryable_instead_of_guessing(
            harness
        )
