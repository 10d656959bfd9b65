"""The shared provider contract, run against Vertex AI: the official client over HTTP
against the fake API."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.vertex_ai import VertexAIProvider
from tests.fakes.vertex_ai_server import FakeVertexAI
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.served_fake_harness import ServedFakeHarness
from tests.providers.test_vertex_ai import fake, provider, vertex_job  # noqa: F401 (fixtures)


class VertexHarness(ServedFakeHarness):
    fake: FakeVertexAI
    pull_failure = (
        "Unable to pull image europe-docker.pkg.dev/demo-project/flows/flow:1.2",
        "Unable to pull image",
    )
    retryable_fault = {"code": 503, "status": "UNAVAILABLE"}
    terminal_fault = {"code": 400, "status": "FAILED_PRECONDITION"}

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return vertex_job(run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return self.fake.state.jobs_created

    def settle(self, infra_id: str) -> None:
        self.fake.settle_cancel(infra_id)


class TestVertexAIContract(ProviderContract):
    @pytest.fixture
    def harness(self, fake: FakeVertexAI, provider: VertexAIProvider) -> ProviderHarness:  # noqa: F811
        return VertexHarness(fake, provider)
