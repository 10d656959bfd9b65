"""The worker drives every pull type through the same provider modules the
dispatcher uses: Docker (the SDK over a Unix socket to the fake Engine),
Kubernetes (the official client over HTTP to the fake API server) and the
hybrid ``ecs`` type (boto3 against moto's ECS).

The worker is an in-process object here because the test plays the
infrastructure (a container exits, a pod finishes, a task stops) through
the fakes it holds; it still talks to the live API over HTTP with a worker
token, exactly as ``pushpool worker start`` does.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from kubernetes import client as kube

from providers import docker, ecs, kubernetes
from providers.ecs.ids import parse_infra_id
from tests.api.support import Env, make_deployment, make_pool, make_run
from tests.e2e.worker_support import (
    InProcessWorker,
    run_of,
    wait_for,
)
from tests.fakes.docker_engine import FakeDockerEngine
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.fakes.moto_ecs import REGION, moto_ecs


def seed(env: Env, pool_type: str, **job_variables: object) -> tuple[str, dict]:
    """A pool of the type (default template), a deployment, one run; a worker token."""
    admin = env.as_(env.token("admin"))
    make_pool(admin, "pool", type=pool_type)
    deployment = make_deployment(
        admin, "pool", command="python -m flows.etl", job_variables=job_variables
    )
    return env.token("worker", pool_name="pool"), make_run(admin, deployment["id"])


@pytest.fixture
def admin(secured: Env) -> httpx.Client:
    return secured.as_(secured.token("admin"))


def until_state(http: httpx.Client, run_id: str, state: str) -> dict:
    return wait_for(lambda: (r := run_of(http, run_id))["state_type"] == state and r)


def infra_of(http: httpx.Client, run_id: str) -> str:
    return wait_for(lambda: run_of(http, run_id)["infrastructure_pid"])


# -- docker ----------------------------------------------------------------------------------


@pytest.fixture
def engine() -> Iterator[FakeDockerEngine]:
    with FakeDockerEngine() as fake:
        yield fake


def test_a_docker_run_goes_from_container_to_completed(
    secured: Env, admin: httpx.Client, engine: FakeDockerEngine
):
    token, run = seed(secured, "docker", image="flows/etl:1")
    provider = docker.make_provider(base_url=engine.base_url, output=io.StringIO(), timeout=10)
    worker = InProcessWorker.start(secured, token, "pool", provider)
    try:
        running = until_state(admin, run["id"], "RUNNING")
        container = engine.find(running["infrastructure_pid"])
        assert container is not None
        assert container.name.endswith(f"{run['id']}-1")  # named from (run id, attempt)
        environment = dict(v.split("=", 1) for v in container.config["Env"])
        assert environment["PUSHPOOL_FLOW_RUN_ID"] == run["id"]
        assert environment["PUSHPOOL_RUN_TOKEN"].startswith("ppr_")
        engine.exit(running["infrastructure_pid"], 0)
        done = until_state(admin, run["id"], "COMPLETED")
        assert "exited with code 0" in done["state"]["message"]
    finally:
        assert worker.stop() == []
    assert len(engine.containers) == 1  # exactly one container for the claim


# -- kubernetes ------------------------------------------------------------------------------


def test_a_kubernetes_run_fails_with_its_pods_exit_code(secured: Env, admin: httpx.Client):
    token, run = seed(secured, "kubernetes", image="flows/etl:1")
    with FakeKubeApiServer() as cluster:
        provider = kubernetes.make_provider(configuration=kube.Configuration(host=cluster.host))
        worker = InProcessWorker.start(secured, token, "pool", provider)
        try:
            pending = infra_of(admin, run["id"])
            namespace, job_name = pending.split("/")
            assert namespace == "default"
            assert run_of(admin, run["id"])["state_type"] == "PENDING"  # pod not running
            cluster.run(namespace, job_name)
            until_state(admin, run["id"], "RUNNING")
            cluster.finish(namespace, job_name, 2)
            failed = until_state(admin, run["id"], "FAILED")
            assert "exited with code 2" in failed["state"]["message"]
            assert cluster.created == 1
        finally:
            assert worker.stop() == []


# -- ecs (hybrid) --------------------------------------------------------------------------------


def test_the_hybrid_ecs_type_runs_end_to_end_through_a_worker(
    secured: Env, admin: httpx.Client, tmp_path: Path
):
    with moto_ecs() as fake:
        ecs_client = boto3.client("ecs", region_name=REGION)
        ecs_client.create_cluster(clusterName="flows")
        provider = ecs.make_provider(
            ecs_client=ecs_client, ec2_client=boto3.client("ec2", region_name=REGION)
        )
        token, run = seed(secured, "ecs", image="flows/etl:1", cluster="flows")
        worker = InProcessWorker.start(secured, token, "pool", provider)
        try:
            infra_id = infra_of(admin, run["id"])
            task_arn = parse_infra_id(infra_id)[1]
            task = ecs_client.describe_tasks(cluster="flows", tasks=[task_arn], include=["TAGS"])[
                "tasks"
            ][0]
            tags = {t["key"]: t["value"] for t in task.get("tags", [])}
            assert tags["pushpool.io/flow-run-id"] == run["id"]
            fake.start(task_arn)
            until_state(admin, run["id"], "RUNNING")
            fake.exit(task_arn, 0)
            until_state(admin, run["id"], "COMPLETED")
            assert fake.started == [task_arn]
        finally:
            assert worker.stop() == []
