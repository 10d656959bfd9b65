"""The shared provider contract, run against Vertex AI: the official client over HTTP
against the fake API."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.vertex_ai import VertexAIProvider
from tests.fakes.vertex_ai_server import FakeVertexAI
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.test_vertex_ai import fake, provider, vertex_job  # noqa: F401 (fixtures)


class VertexHarness(ProviderHarness):
    def __init__(self, fake: FakeVertexAI, provider: VertexAIProvider) -> None:  # noqa: F811
        self.fake = fake
        self.provider = provider

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return vertex_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.jobs_created

    def backend_requests(self) -> int:
        return len(self.fake.state.requests)

    def start(self, infra_id: str) -> None:
        self.fake.start(infra_id)

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.finish(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        self.fake.fail_to_start(
            infra_id, "Unable to pull image europe-docker.pkg.dev/demo-project/flows/flow:1.2"
        )
        return "Unable to pull image"

    def vanish(self, infra_id: str) -> None:
        self.fake.remove(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        if retryable:
            self.fake.fail_requests(code=503, status="UNAVAILABLE", message=message)
        else:
            self.fake.fail_requests(code=400, status="FAILED_PRECONDITION", message=message)

    def heal(self) -> None:
        self.fake.heal()

    def settle(self, infra_id: str) -> None:
        self.fake.settle_cancel(infra_id)


class TestVertexAIContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeVertexAI, provider: VertexAIProvider) -> ProviderHarness:  # noqa: F811
        return VertexHarness(fake, provider)
