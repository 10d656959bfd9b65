"""The shared provider contract run against the docker provider and the fake Engine API."""

from __future__ import annotations

import pytest

from core.ports import Job
from providers.docker import DockerProvider, make_provider
from tests.fakes.docker_engine import FakeDockerEngine
from tests.providers.contract import ProviderContract, ProviderHarness, make_job


class DockerHarness(ProviderHarness):
    def __init__(self, engine: FakeDockerEngine) -> None:
        self.engine = engine
        self.provider: DockerProvider = make_provider(base_url=engine.base_url, timeout=10)

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return make_job(
            {
                "image": "busybox",
                "command": "python -m flow",
                "env": {"PUSHPOOL_FLOW_RUN_ID": run_id},
                "labels": {"pushpool.io/flow-run-id": run_id},
                "auto_remove": False,
                "stream_output": False,
            },
            run_id=run_id,
            attempt=attempt,
            pool_type="docker",
        )

    def infrastructure_count(self) -> int:
        return self.engine.created

    def backend_requests(self) -> int:
        return len(self.engine.requests)

    def start(self, infra_id: str) -> None:
        """``submit`` already started it: Docker's start is synchronous."""

    def exit(self, infra_id: str, code: int) -> None:
        self.engine.exit(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        message = (
            "failed to create task for container: OCI runtime create failed: exec: "
            '"python": executable file not found in $PATH: unknown'
        )
        self.engine.fail_start(infra_id, message)
        return "executable file not found"

    def vanish(self, infra_id: str) -> None:
        self.engine.vanish(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        self.engine.fail_with(500 if retryable else 400, message)

    def heal(self) -> None:
        self.engine.heal()


class TestDockerProviderContract(ProviderContract):
    @pytest.fixture
    def harness(self):
        with FakeDockerEngine() as engine:
            yield DockerHarness(engine)
