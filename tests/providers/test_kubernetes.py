"""The kubernetes provider (configured through the official client) over HTTP to a fake API server."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from kubernetes import client

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.kubernetes import KubernetesProvider, build_request, make_provider
from tests.clock import NOW, FakeClock
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden

RUN_ID = "0b5a3c1e-7d2f-4e8a-9c61-2f3e4d5a6b7c"

# Prefect's default kubernetes base job template, rendered as the template
# engine renders it (placeholders replaced by the variables' values).
PREFECT_STYLE = {
    "command": "python -m flows.etl",
    "env": {"PUSHPOOL_FLOW_RUN_ID": RUN_ID, "PUSHPOOL_API_URL": "http://api", "RETRIES": 3},
    "labels": {"pushpool.io/flow-run-id": RUN_ID, "pushpool.io/work-pool": "k8s pool"},
    "name": "crimson-fox",
    "namespace": "flows",
    "job_manifest": {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "labels": {"pushpool.io/flow-run-id": RUN_ID, "pushpool.io/work-pool": "k8s pool"},
            "namespace": "flows",
            "generateName": "crimson-fox-",
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "spec": {
                    "parallelism": 1,
                    "completions": 1,
                    "restartPolicy": "Never",
                    "serviceAccountName": "flow-runner",
                    "containers": [
                        {
                            "name": "prefect-job",
                            "env": {"PUSHPOOL_FLOW_RUN_ID": RUN_ID, "RETRIES": 3},
                            "image": "registry.example.com/flows:1",
                            "imagePullPolicy": "IfNotPresent",
                            "args": "python -m flows.etl",
                            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
                        }
                    ],
                }
            },
        },
    },
    "stream_output": True,
    "job_watch_timeout_seconds": None,
    "pod_watch_timeout_seconds": 120,
}


def job(configuration: dict[str, Any], *, run_id: str = RUN_ID, attempt: int = 1) -> Job:
    return make_job(
        configuration,
        run_id=run_id,
        attempt=attempt,
        pool_type="kubernetes",
        run_name="crimson-fox",
    )


def simple(**overrides: Any) -> dict[str, Any]:
    """A configuration without a manifest: the provider builds a minimal Job."""
    return {
        "image": "python:3.12",
        "command": "python -m flow",
        "env": {},
        "labels": {},
    } | overrides


@pytest.fixture
def cluster(clock: FakeClock):
    with FakeKubeApiServer(clock=clock) as fake:
        fake.namespaces.add("flows")
        yield fake


@pytest.fixture
def provider(cluster: FakeKubeApiServer, clock: FakeClock) -> KubernetesProvider:
    return make_provider(configuration=client.Configuration(host=cluster.host), clock=clock)


def submit(provider: KubernetesProvider, the_job: Job) -> str:
    return provider.submit(build_request(the_job), idempotency_key=the_job.idempotency_key)


# -- build_request ------------------------------------------------------------------------


def test_a_rendered_prefect_style_manifest_becomes_a_named_labelled_job():
    assert_golden("kubernetes_prefect_style.json", build_request(job(PREFECT_STYLE)).as_json())


def test_without_a_manifest_a_minimal_job_is_built_from_the_variables():
    request = build_request(
        job(
            simple(env={"A": "1"}, finished_job_ttl=600, backoff_limit=2, service_account_name="sa")
        )
    )
    assert_golden("kubernetes_minimal.json", request.as_json())


def test_the_name_is_a_dns_label_of_at_most_63_chars_distinct_per_attempt():
    long_name = simple(name="A Very_Long flow name: with/odd chars " * 3)
    first = build_request(job(long_name)).name
    second = build_request(job(long_name, attempt=2)).name

    assert first != second
    for name in (first, second):
        assert len(name) <= 63
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert first.startswith("a-very-long-flow-name-with-odd-chars")
    assert build_request(job(long_name)).name == first


def test_label_values_are_made_valid_and_the_run_id_and_attempt_added():
    request = build_request(
        job(simple(labels={"pushpool.io/work-pool": "my pool!", "x": None}), attempt=3)
    )

    assert request.manifest["metadata"]["labels"] == {
        "pushpool.io/work-pool": "my-pool",
        "pushpool.io/flow-run-id": RUN_ID,
        "pushpool.io/attempt": "3",
    }
    pod_labels = request.manifest["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {"pushpool.io/flow-run-id": RUN_ID, "pushpool.io/attempt": "3"}


def test_the_env_variable_wins_over_the_manifest_and_null_removes_a_name():
    manifest = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "flow",
                            "image": "python:3.12",
                            "env": [
                                {"name": "KEEP", "value": "k"},
                                {"name": "OVERRIDE", "value": "old"},
                                {"name": "DROP", "value": "d"},
                                {
                                    "name": "SECRET",
                                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                                },
                            ],
                        }
                    ]
                }
            }
        }
    }
    request = build_request(
        job({"job_manifest": manifest, "env": {"OVERRIDE": "new", "DROP": None, "FLAG": True}})
    )

    container = request.manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "KEEP", "value": "k"},
        {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        {"name": "OVERRIDE", "value": "new"},
        {"name": "FLAG", "value": "true"},
    ]
    assert "args" not in container  # no command given: the image's own entrypoint runs


def test_existing_args_are_kept_and_a_command_fills_missing_args():
    with_args = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "c", "image": "i", "args": ["run", "it"]}]}
            }
        }
    }

    kept = build_request(job({"job_manifest": with_args, "command": "python -m other"}))
    filled = build_request(job(simple(command=["python", "-m", "flow"])))

    assert kept.manifest["spec"]["template"]["spec"]["containers"][0]["args"] == ["run", "it"]
    assert filled.manifest["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "python",
        "-m",
        "flow",
    ]


@pytest.mark.parametrize(
    ("configuration", "fragment"),
    [
        ({"job_manifest": {"apiVersion": "v1", "kind": "Pod"}}, "must be a batch/v1 Job"),
        ({"command": "python -m flow"}, "needs an image"),
    ],
)
def test_an_unusable_configuration_is_a_terminal_error(configuration, fragment):
    with pytest.raises(InfrastructureError) as raised:
        build_request(job(configuration))
    assert raised.value.retryable is False
    assert fragment in str(raised.value)


# -- submit ---------------------------------------------------------------------------------


def test_submit_creates_the_job_in_its_namespace_and_the_controller_starts_a_pod(provider, cluster):
    request = build_request(job(PREFECT_STYLE))

    infra_id = provider.submit(request, idempotency_key=f"{RUN_ID}-1")

    assert infra_id == f"flows/{request.name}"
    stored = cluster.jobs[("flows", request.name)]
    assert stored["metadata"]["labels"]["pushpool.io/flow-run-id"] == RUN_ID
    assert stored["spec"]["ttlSecondsAfterFinished"] == 3600
    assert len(cluster.pods_of("flows", request.name)) == 1
    assert provider.status(infra_id) == InfraStatus(phase=InfraPhase.PENDING)


def test_a_second_submit_meets_409_and_returns_the_same_job(provider, cluster):
    the_job = job(simple())

    first = submit(provider, the_job)
    again = submit(make_provider(configuration=client.Configuration(host=cluster.host)), the_job)

    assert again == first
    assert cluster.created == 1


def test_a_job_of_the_same_name_from_another_attempt_is_not_adopted(provider, cluster):
    request = build_request(job(simple()))
    clash = json.loads(json.dumps(request.manifest))
    clash["metadata"]["labels"]["pushpool.io/attempt"] = "7"
    cluster.create_job("default", clash)

    with pytest.raises(InfrastructureError) as raised:
        provider.submit(request, idempotency_key=f"{RUN_ID}-1")

    assert raised.value.retryable is False
    assert "already exists for another run" in str(raised.value)


def test_an_invalid_manifest_is_rejected_with_the_api_servers_message(provider):
    bad = {
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Always", "containers": [{"name": "c", "image": "i"}]}
            }
        }
    }

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job({"job_manifest": bad}))

    assert raised.value.retryable is False
    assert 'Unsupported value: "Always"' in str(raised.value)


def test_a_missing_namespace_is_a_terminal_error(provider):
    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job(simple(namespace="nowhere")))

    assert raised.value.retryable is False
    assert 'namespaces "nowhere" not found' in str(raised.value)


# -- status -----------------------------------------------------------------------------------


def test_status_follows_the_pod_and_the_job_to_completion(provider, cluster):
    infra_id = submit(provider, job(simple()))
    namespace, name = infra_id.split("/")
    assert provider.status(infra_id).phase is InfraPhase.PENDING

    cluster.run(namespace, name)
    assert provider.status(infra_id).phase is InfraPhase.RUNNING

    cluster.finish(namespace, name, 0)
    assert provider.status(infra_id) == InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
    assert (namespace, name) in cluster.jobs  # cleanup is left to ttlSecondsAfterFinished


def test_a_failed_job_reports_the_containers_exit_code(provider, cluster):
    infra_id = submit(provider, job(simple()))
    cluster.run(*infra_id.split("/"))
    cluster.finish(*infra_id.split("/"), 2)

    status = provider.status(infra_id)
    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 2)
    assert "BackoffLimitExceeded" in status.reason


def test_an_oom_killed_container_is_crashed(provider, cluster):
    infra_id = submit(provider, job(simple()))
    cluster.finish(*infra_id.split("/"), 137, reason="OOMKilled")

    assert provider.status(infra_id) == InfraStatus(
        phase=InfraPhase.CRASHED, exit_code=137, reason="OOM-killed"
    )


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_an_image_pull_failure_crashes_only_beyond_the_pod_watch_timeout(
    provider, cluster, clock, reason
):
    infra_id = submit(provider, job(simple(image="flows/missing:9", pod_watch_timeout_seconds=90)))
    cluster.pull_backoff(*infra_id.split("/"), reason=reason)

    clock.set(NOW + timedelta(seconds=89))
    assert provider.status(infra_id).phase is InfraPhase.PENDING

    clock.set(NOW + timedelta(seconds=91))
    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert reason in status.reason
    assert "flows/missing:9" in status.reason


def test_an_unschedulable_pod_crashes_beyond_the_pod_watch_timeout(provider, cluster, clock):
    infra_id = submit(provider, job(simple(pod_watch_timeout_seconds=30)))
    cluster.unschedulable(*infra_id.split("/"), "0/3 nodes are available: 3 Insufficient cpu.")

    clock.set(NOW + timedelta(seconds=31))

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "Unschedulable: 0/3 nodes are available: 3 Insufficient cpu." in status.reason


def test_a_pod_that_is_merely_slow_to_start_stays_pending(provider, cluster, clock):
    infra_id = submit(provider, job(simple(pod_watch_timeout_seconds=30)))

    clock.set(NOW + timedelta(hours=1))

    assert (
        provider.status(infra_id).phase is InfraPhase.PENDING
    )  # the reaper's start timeout decides


def test_a_job_deleted_behind_the_workers_back_is_crashed(provider, cluster):
    infra_id = submit(provider, job(simple()))

    cluster.vanish(*infra_id.split("/"))

    status = provider.status(infra_id)
    assert status.phase is InfraPhase.CRASHED
    assert "vanished" in status.reason


# -- cancel -------------------------------------------------------------------------------------


def test_cancel_deletes_the_job_in_the_foreground_and_ends_cancelled(provider, cluster):
    infra_id = submit(provider, job(simple()))
    cluster.run(*infra_id.split("/"))

    provider.cancel(infra_id)

    stored = cluster.jobs[tuple(infra_id.split("/"))]
    assert stored["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert provider.status(infra_id).phase is InfraPhase.CANCELLED
    cluster.collect_garbage()
    assert provider.status(infra_id).phase is InfraPhase.CANCELLED
    assert cluster.pods_of(*infra_id.split("/")) == []


def test_background_propagation_removes_the_job_at_once(cluster, clock):
    provider = make_provider(
        configuration=client.Configuration(host=cluster.host), propagation_policy="Background"
    )
    infra_id = submit(provider, job(simple()))

    provider.cancel(infra_id)

    assert tuple(infra_id.split("/")) not in cluster.jobs
    assert provider.status(infra_id).phase is InfraPhase.CANCELLED


def test_cancelling_a_finished_job_leaves_it_to_its_ttl(provider, cluster):
    infra_id = submit(provider, job(simple()))
    cluster.finish(*infra_id.split("/"), 0)
    provider.status(infra_id)

    provider.cancel(infra_id)

    assert (
        "DELETE",
        f"/apis/batch/v1/namespaces/{infra_id.replace('/', '/jobs/')}",
    ) not in cluster.requests
    assert provider.status(infra_id).phase is InfraPhase.EXITED


# -- errors and configuration ---------------------------------------------------------------------


def test_throttling_is_retryable_and_forbidden_is_terminal(provider, cluster):
    cluster.fail_with(429, "too many requests, please try again later")
    with pytest.raises(InfrastructureError) as throttled:
        submit(provider, job(simple()))

    cluster.fail_with(
        403,
        'jobs.batch is forbidden: User "system:serviceaccount:flows:worker" cannot create resource',
    )
    with pytest.raises(InfrastructureError) as forbidden:
        submit(provider, job(simple()))

    assert throttled.value.retryable is True
    assert forbidden.value.retryable is False
    assert "cannot create resource" in str(forbidden.value)


def test_an_unreachable_api_server_is_retryable():
    configuration = client.Configuration(host="http://127.0.0.1:9")
    configuration.retries = 0
    provider = make_provider(configuration=configuration)

    with pytest.raises(InfrastructureError) as raised:
        provider.status("default/flow-abc")

    assert raised.value.retryable is True


def test_a_kubeconfig_file_is_read(cluster, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": cluster.host}}],
                "users": [{"name": "worker", "user": {"token": "t0k3n"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "worker"}}],
                "current-context": "fake",
            }
        )
    )
    provider = make_provider(kubeconfig=str(kubeconfig))

    infra_id = submit(provider, job(simple()))

    assert provider.status(infra_id).phase is InfraPhase.PENDING


def test_in_cluster_configuration_outside_a_cluster_is_a_terminal_error(monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    provider = make_provider(in_cluster=True)

    with pytest.raises(InfrastructureError) as raised:
        provider.status("default/flow-abc")

    assert raised.value.retryable is False
    assert "in-cluster" in str(raised.value)


def test_a_malformed_id_is_a_terminal_error(provider):
    with pytest.raises(InfrastructureError) as raised:
        provider.status("flow-abc")
    assert raised.value.retryable is False
