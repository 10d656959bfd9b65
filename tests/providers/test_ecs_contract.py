"""The shared provider contract, run against the ECS provider on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from core.ports import Job
from providers.ecs import EcsProvider, make_provider
from providers.ecs.ids import parse_infra_id
from tests.fakes.moto_ecs import PULL_ERROR, REGION, MotoEcs, moto_ecs
from tests.providers.contract import ProviderContract, ProviderHarness
from tests.providers.ecs_jobs import ecs_job, prefect_shaped


class EcsHarness(ProviderHarness):
    """The ECS provider on moto, its clients instrumented to count and fail calls."""

    def __init__(self, fake: MotoEcs) -> None:
        self.fake = fake
        self.clients = [
            boto3.client("ecs", region_name=REGION),
            boto3.client("ec2", region_name=REGION),
        ]
        self.clients[0].create_cluster(clusterName="flows")
        self.requests = 0
        self.failure: tuple[int, dict[str, Any]] | None = None
        for client in self.clients:
            client.meta.events.register("before-call", self._before_call)
        self.provider: EcsProvider = make_provider(
            ecs_client=self.clients[0], ec2_client=self.clients[1]
        )

    def _before_call(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        """Count the call; answer with the injected failure, if any (as Stubber does)."""
        self.requests += 1
        if self.failure is None:
            return None
        status, parsed = self.failure
        return AWSResponse(None, status, {}, None), parsed

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        configuration = prefect_shaped(run_id, network_configuration=None)
        return ecs_job(configuration, run_id=run_id, attempt=attempt)

    def infrastructure_count(self) -> int:
        return len(self.fake.started)

    def backend_requests(self) -> int:
        return self.requests

    def start(self, infra_id: str) -> None:
        self.fake.start(parse_infra_id(infra_id)[1])

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.exit(parse_infra_id(infra_id)[1], code)

    def fail_to_start(self, infra_id: str) -> str:
        self.fake.fail_to_start(parse_infra_id(infra_id)[1], PULL_ERROR)
        return "CannotPullContainerError"

    def vanish(self, infra_id: str) -> None:
        self.fake.vanish(parse_infra_id(infra_id)[1])

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        code, status = ("ThrottlingException", 400) if retryable else ("AccessDeniedException", 400)
        parsed = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        self.failure = (status, parsed)

    def heal(self) -> None:
        self.failure = None


class TestEcsProviderContract(ProviderContract):
    @pytest.fixture
    def harness(self) -> Iterator[ProviderHarness]:
        with moto_ecs() as fake:
            yield EcsHarness(fake)
