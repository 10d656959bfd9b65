"""Every pool type served by cloud_run, aci and modal: default template → valid request.

The default base job templates (``providers/templates``) are data owned
elsewhere; these tests hold the templates and the providers to each other.
A pool created with the type's default template and only the variables a
user must give renders (``core.services.jobs.build_job``) into a request
the provider accepts, with the injected run token where the platform keeps
secrets and the run's labels attached.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.mgmt.containerinstance.models import ContainerGroup

from core.errors import InfrastructureError
from core.models import Deployment
from core.ports import Job
from core.rules.pools import new_pool
from core.services.jobs import build_job
from providers import aci, cloud_run, modal
from providers.aci.request import RUN_TAG
from providers.cloud_run.request import RUN_LABEL
from providers.modal.request import FunctionRequest
from providers.registry import REGISTRY
from tests.contract.builders import NOW, make_run, new_id
from tests.fakes.modal_client import FakeModal

TOKEN = "run-token-secret"
SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"


def job_for(pool_type: str, job_variables: dict[str, Any]) -> Job:
    pool, queue = new_pool(
        name="p",
        pool_type=pool_type,
        base_job_template=REGISTRY.default_template(pool_type),
        pool_id=new_id(),
        queue_id=new_id(),
        now=NOW,
    )
    deployment = Deployment(
        id=new_id(),
        name="d",
        flow_id=new_id(),
        flow_name="etl",
        work_pool_name="p",
        work_queue_name="default",
        job_variables=job_variables,
        command="python -m flows.etl",
        created=NOW,
        updated=NOW,
    )
    run = make_run(pool, queue).model_copy(update={"deployment_id": deployment.id})
    return build_job(
        pool=pool, run=run, deployment=deployment, api_url="https://pp.example", run_token=TOKEN
    )


@pytest.mark.parametrize(
    "pool_type", ["cloud-run", "cloud-run-v2", "cloud-run:push", "cloud-run-v2:push"]
)
def test_cloud_run_default_templates_build_a_job_with_the_run_token_in_the_container_env(
    pool_type: str,
):
    job = job_for(pool_type, {"project": "demo-project"})
    request = cloud_run.make_provider().build_request(job)

    container = request.job.template.template.containers[0]
    assert request.parent == "projects/demo-project/locations/us-central1"
    assert container.image == "python:3.12-slim"
    assert container.command == ["python", "-m", "flows.etl"]
    assert {e.name: e.value for e in container.env}["PUSHPOOL_RUN_TOKEN"] == TOKEN
    assert request.job.template.template.timeout.seconds == 600
    assert request.job.labels[RUN_LABEL] == job.run_id
    assert request.job.annotations["pushpool.io/flow-run-id"] == job.run_id


@pytest.mark.parametrize("pool_type", ["azure-container-instance", "azure-container-instance:push"])
def test_aci_default_templates_build_a_group_with_the_run_token_as_a_secure_value(
    pool_type: str,
):
    job = job_for(pool_type, {"subscription_id": SUBSCRIPTION, "resource_group_name": "rg"})
    request = aci.make_provider().build_request(job)

    group: ContainerGroup = request.group
    env = {e.name: e for e in group.containers[0].environment_variables}
    assert (request.subscription_id, request.resource_group, group.location) == (
        SUBSCRIPTION,
        "rg",
        "eastus",
    )
    assert env["PUSHPOOL_RUN_TOKEN"].secure_value == TOKEN
    assert env["PUSHPOOL_RUN_TOKEN"].value is None
    assert group.restart_policy == "Never"
    assert group.tags[RUN_TAG] == job.run_id


def test_the_modal_default_template_spawns_the_named_function_with_the_runs_env():
    job = job_for("modal:push", {"function_name": "run_flow"})
    request = modal.make_provider(client=FakeModal()).build_request(job)

    assert isinstance(request, FunctionRequest)
    assert (request.app_name, request.function_name) == ("pushpool", "run_flow")
    assert request.env["PUSHPOOL_RUN_TOKEN"] == TOKEN
    assert request.parameters == {}
    assert request.resources.timeout == 3600


def test_the_modal_default_template_without_a_function_or_image_says_what_is_missing():
    job = job_for("modal:push", {})
    with pytest.raises(InfrastructureError) as raised:
        modal.make_provider(client=FakeModal()).build_request(job)
    assert raised.value.retryable is False
    assert "function_name" in str(raised.value) and "image" in str(raised.value)
