"""The shared provider contract run against the kubernetes provider and the fake API server."""

from __future__ import annotations

import pytest
from kubernetes import client

from core.ports import Job
from providers.kubernetes import KubernetesProvider, make_provider
from tests.clock import FakeClock
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.providers.contract import ProviderContract, ProviderHarness, make_job

POD_WATCH_TIMEOUT = 60


class KubernetesHarness(ProviderHarness):
    def __init__(self, cluster: FakeKubeApiServer, clock: FakeClock) -> None:
        self.cluster = cluster
        self.clock = clock
        configuration = client.Configuration(host=cluster.host)
        self.provider: KubernetesProvider = make_provider(configuration=configuration, clock=clock)

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return make_job(
            {
                "image": "flows/etl:1",
                "command": "python -m flow",
                "env": {"PUSHPOOL_FLOW_RUN_ID": run_id},
                "labels": {"pushpool.io/flow-run-id": run_id},
                "namespace": "default",
                "finished_job_ttl": 3600,
                "pod_watch_timeout_seconds": POD_WATCH_TIMEOUT,
            },
            run_id=run_id,
            attempt=attempt,
            pool_type="kubernetes",
        )

    def infrastructure_count(self) -> int:
        return self.cluster.created

    def backend_requests(self) -> int:
        return len(self.cluster.requests)

    def start(self, infra_id: str) -> None:
        self.cluster.run(*infra_id.split("/"))

    def exit(self, infra_id: str, code: int) -> None:
        self.cluster.finish(*infra_id.split("/"), code)

    def fail_to_start(self, infra_id: str) -> str:
        self.cluster.pull_backoff(*infra_id.split("/"))
        self.clock.advance(seconds=POD_WATCH_TIMEOUT + 1)
        return "ImagePullBackOff"

    def vanish(self, infra_id: str) -> None:
        self.cluster.vanish(*infra_id.split("/"))

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        self.cluster.fail_with(503 if retryable else 403, message)

    def heal(self) -> None:
        self.cluster.heal()

    def settle(self, infra_id: str) -> None:
        self.cluster.collect_garbage()


class TestKubernetesProviderContract(ProviderContract):
    @pytest.fixture
    def harness(self):
        clock = FakeClock()
        with FakeKubeApiServer(clock=clock) as cluster:
            yield KubernetesHarness(cluster, clock)
