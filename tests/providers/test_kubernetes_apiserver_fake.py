"""The fake API server is itself held to the shapes the official client validates."""

from __future__ import annotations

import json

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fakes.kube_apiserver import FakeKubeApiServer

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "flow-1", "labels": {"app": "flows"}},
    "spec": {
        "template": {
            "metadata": {"labels": {"pushpool.io/flow-run-id": "r1"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "c", "image": "python:3.12"}],
            },
        }
    },
}


@pytest.fixture
def apis():
    with FakeKubeApiServer() as cluster:
        api_client = client.ApiClient(client.Configuration(host=cluster.host))
        yield cluster, client.BatchV1Api(api_client), client.CoreV1Api(api_client)


def test_a_created_job_is_defaulted_like_the_api_server_and_its_pod_labelled_like_the_controller(
    apis,
):
    _, batch, core = apis

    job = batch.create_namespaced_job("default", body=JOB)

    assert isinstance(job, client.V1Job)
    assert job.metadata.uid and job.metadata.resource_version and job.metadata.creation_timestamp
    assert (job.spec.backoff_limit, job.spec.completions, job.spec.parallelism) == (6, 1, 1)
    assert job.spec.selector.match_labels == {
        "batch.kubernetes.io/controller-uid": job.metadata.uid
    }
    pods = core.list_namespaced_pod("default", label_selector="pushpool.io/flow-run-id=r1").items
    assert len(pods) == 1
    assert pods[0].metadata.labels["job-name"] == "flow-1"
    assert pods[0].metadata.owner_references[0].uid == job.metadata.uid


def test_status_objects_carry_reason_and_code(apis):
    _, batch, _ = apis
    batch.create_namespaced_job("default", body=JOB)

    with pytest.raises(ApiException) as conflict:
        batch.create_namespaced_job("default", body=JOB)
    with pytest.raises(ApiException) as missing:
        batch.read_namespaced_job("nope", "default")

    assert conflict.value.status == 409
    assert json.loads(conflict.value.body)["reason"] == "AlreadyExists"
    assert json.loads(missing.value.body) | {"details": {}} == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'jobs.batch "nope" not found',
        "reason": "NotFound",
        "details": {},
        "code": 404,
    }


def test_finished_and_stuck_pods_deserialise_into_the_clients_models(apis):
    cluster, batch, core = apis
    batch.create_namespaced_job("default", body=JOB)

    cluster.pull_backoff("default", "flow-1")
    waiting = core.list_namespaced_pod("default", label_selector="job-name=flow-1").items[0]
    cluster.finish("default", "flow-1", 1)
    job = batch.read_namespaced_job("flow-1", "default")
    done = core.list_namespaced_pod("default", label_selector="job-name=flow-1").items[0]

    assert waiting.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    assert [c.type for c in job.status.conditions] == ["FailureTarget", "Failed"]
    assert done.status.container_statuses[0].state.terminated.exit_code == 1


def test_label_selectors_match_equality_inequality_and_existence(apis):
    _, batch, core = apis
    batch.create_namespaced_job("default", body=JOB)

    def count(selector: str) -> int:
        return len(core.list_namespaced_pod("default", label_selector=selector).items)

    assert count("job-name=flow-1,pushpool.io/flow-run-id==r1") == 1
    assert count("job-name!=flow-1") == 0
    assert count("job-name") == 1
    assert count("!job-name") == 0


@pytest.mark.parametrize(
    ("level", "code", "warnings"),
    [
        ("Strict", 400, []),
        ("Warn", 201, ['299 - "unknown field \\"spec.template.spec.parallelism\\""']),
        (None, 201, ['299 - "unknown field \\"spec.template.spec.parallelism\\""']),
        ("Ignore", 201, []),
        ("Loose", 400, []),
    ],
)
def test_unknown_fields_follow_the_requests_field_validation(level, code, warnings):
    misplaced = json.loads(json.dumps(JOB))
    misplaced["spec"]["template"]["spec"]["parallelism"] = 1
    query = {"fieldValidation": level} if level else {}
    with FakeKubeApiServer() as cluster:
        response = httpx.post(
            f"{cluster.host}/apis/batch/v1/namespaces/default/jobs", json=misplaced, params=query
        )

        assert response.status_code == code
        assert response.headers.get_list("Warning") == warnings
        if code == 201:
            assert "parallelism" not in response.json()["spec"]["template"]["spec"]
            assert cluster.received == [misplaced]
        else:
            assert cluster.jobs == {}
    if level == "Strict":
        assert response.json()["message"] == (
            'Job in version "v1" cannot be handled as a Job: strict decoding error: '
            'unknown field "spec.template.spec.parallelism"'
        )
