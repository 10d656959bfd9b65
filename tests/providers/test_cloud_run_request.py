"""``build_request`` for Cloud Run: pure, golden-file tested, Prefect templates accepted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud import run_v2
from google.protobuf import json_format

from core.errors import InfrastructureError
from providers.cloud_run import CloudRunRequest, make_provider
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden
from tests.providers.test_cloud_run import CONFIGURATION

RUN_ID = "0b7c1e52-6a0f-4c5e-9a61-3f0d7c2b9e11"

# Prefect's cloud-run-v2 job_configuration as pushpool renders it: unset
# placeholders removed, numbers typed, "{{ timeout }}" a number of seconds.
PREFECT_RENDERED = {
    "command": "prefect flow-run execute",
    "env": {"PREFECT_API_URL": "https://pushpool.example/api", "PUSHPOOL_FLOW_RUN_ID": RUN_ID},
    "labels": {"pushpool.io/flow-run-id": RUN_ID},
    "name": "brisk-otter",
    "region": "us-east1",
    "job_body": {
        "client": "prefect",
        "launchStage": "BETA",
        "template": {
            "template": {
                "serviceAccount": None,
                "maxRetries": 0,
                "timeout": 600,
                "vpcAccess": {"connector": None},
                "containers": [
                    {
                        "env": [],
                        "image": "prefecthq/prefect:3-latest",
                        "command": "prefect flow-run execute",
                        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
                    }
                ],
            }
        },
    },
    "keep_job": False,
    "timeout": 600,
}


def as_json(request: CloudRunRequest) -> dict[str, Any]:
    return {
        "parent": request.parent,
        "keep_job": request.keep_job,
        "job": json_format.MessageToDict(run_v2.Job.pb(request.job)),
    }


def test_the_default_template_configuration_builds_the_golden_job():
    provider = make_provider()
    job = make_job(CONFIGURATION, run_id=RUN_ID, run_name="brisk-otter")

    assert_golden("cloud_run_job.json", as_json(provider.build_request(job)))


def test_a_rendered_prefect_cloud_run_v2_template_builds_the_golden_job():
    provider = make_provider(default_project="prefect-project")
    job = make_job(PREFECT_RENDERED, run_id=RUN_ID, run_name="brisk-otter")

    request = provider.build_request(job)

    assert request.parent == "projects/prefect-project/locations/us-east1"
    assert_golden("cloud_run_prefect_job.json", as_json(request))


def test_labels_become_valid_google_labels_and_stay_verbatim_as_annotations():
    provider = make_provider()
    labels = {"pushpool.io/deployment": "Nightly ETL", "9lives": "x" * 80}
    request = provider.build_request(make_job(CONFIGURATION | {"labels": labels}, run_id=RUN_ID))

    assert request.job.labels["pushpool_io_deployment"] == "nightly_etl"
    assert request.job.labels["l_9lives"] == "x" * 63
    assert request.job.annotations["pushpool.io/deployment"] == "Nightly ETL"
    assert request.job.template.labels == request.job.labels


def test_env_from_the_configuration_overrides_the_template_env_by_name():
    provider = make_provider(default_project="p")
    rendered = json.loads(json.dumps(PREFECT_RENDERED))
    rendered["job_body"]["template"]["template"]["containers"][0]["env"] = [
        {"name": "PREFECT_API_URL", "value": "old"},
        {"name": "FROM_SECRET", "valueSource": {"secretKeyRef": {"secret": "s", "version": "1"}}},
    ]
    request = provider.build_request(make_job(rendered, run_id=RUN_ID))

    env = {e.name: e for e in request.job.template.template.containers[0].env}
    assert env["PREFECT_API_URL"].value == "https://pushpool.example/api"
    assert env["FROM_SECRET"].value_source.secret_key_ref.secret == "s"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"project": None}, "project"),
        ({"command": 42}, "command"),
        ({"env": ["A=1"]}, "env"),
        ({"job_body": {"template": {"parallelism": "many"}}}, "job body"),
    ],
)
def test_an_unusable_configuration_is_a_terminal_error_naming_the_problem(
    override: dict[str, Any], message: str
):
    provider = make_provider()
    with pytest.raises(InfrastructureError) as raised:
        provider.build_request(make_job(CONFIGURATION | override, run_id=RUN_ID))
    assert raised.value.retryable is False
    assert message in str(raised.value)


# pushpool's own cloud-run-v2 default template, rendered with only project,
# image and region set: the job body's placeholders for unset variables are
# gone, "{{ timeout }}s" became "600s", empty objects remain.
PUSHPOOL_RENDERED = {
    "command": "python -m flow",
    "env": {"A": "1"},
    "project": "p",
    "region": "us-east1",
    "job_body": {
        "client": "pushpool",
        "template": {
            "template": {
                "maxRetries": 0,
                "timeout": "600s",
                "vpcAccess": {},
                "containers": [
                    {
                        "image": "python:3.12",
                        "command": "python -m flow",
                        "resources": {"limits": {}},
                    }
                ],
            }
        },
    },
    "timeout": 600,
    "keep_job": False,
}


def test_the_rendered_pushpool_default_template_builds_a_valid_job():
    request = make_provider().build_request(make_job(PUSHPOOL_RENDERED, run_id=RUN_ID))

    task = request.job.template.template
    assert request.parent == "projects/p/locations/us-east1"
    assert task.containers[0].command == ["python", "-m", "flow"]
    assert task.timeout.seconds == 600
    assert "vpcAccess" not in json_format.MessageToDict(run_v2.TaskTemplate.pb(task))
    assert request.job.client == "pushpool"


@pytest.mark.parametrize("unset", ["s", ""])
def test_a_timeout_placeholder_left_empty_is_left_out(unset: str):
    body = {"template": {"template": {"timeout": unset, "containers": [{"image": "i"}]}}}
    configuration = {"project": "p", "job_body": body}
    request = make_provider().build_request(make_job(configuration, run_id=RUN_ID))

    assert request.job.template.template.timeout.seconds == 0


def test_the_stack_secret_is_the_service_account_key():
    from tests.providers.test_cloud_run import service_account_key

    provider = make_provider(secret=service_account_key())
    request = provider.build_request(make_job({"image": "i"}, run_id=RUN_ID))

    assert request.parent == "projects/demo-project/locations/us-central1"
