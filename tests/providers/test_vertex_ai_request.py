"""``build_request`` for Vertex AI: pure, golden-file tested, from the default template."""

from __future__ import annotations

from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from core.templates import render
from providers.registry import REGISTRY
from providers.vertex_ai import VertexAIRequest, make_provider
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden
from tests.providers.test_vertex_ai import CONFIGURATION

RUN_ID = "0b7c1e52-6a0f-4c5e-9a61-3f0d7c2b9e11"


def as_json(request: VertexAIRequest) -> dict[str, Any]:
    return {
        "parent": request.parent,
        "custom_job": json_format.MessageToDict(aiplatform_v1.CustomJob.pb(request.custom_job)),
    }


def test_a_full_configuration_builds_the_golden_custom_job():
    job = make_job(CONFIGURATION, run_id=RUN_ID, run_name="brisk-otter", pool_type="vertex-ai")

    assert_golden("vertex_ai_custom_job.json", as_json(make_provider().build_request(job)))


def test_the_default_template_rendered_with_a_gpu_builds_the_golden_custom_job():
    configuration = render(
        REGISTRY.default_template("vertex-ai"),
        deployment_variables={
            "image": "us-docker.pkg.dev/acme/flows/train:3",
            "command": "python -m train --epochs 3",
            "env": {"PUSHPOOL_FLOW_RUN_ID": RUN_ID},
            "labels": {"pushpool.io/flow-run-id": RUN_ID},
            "accelerator_type": "NVIDIA_TESLA_T4",
            "accelerator_count": 1,
            "network": "projects/123/global/networks/flows",
            "reserved_ip_ranges": ["flows-range"],
        },
    )
    job = make_job(configuration, run_id=RUN_ID, run_name="brisk-otter", pool_type="vertex-ai")
    provider = make_provider(default_project="key-project")  # the service-account key's project

    assert_golden("vertex_ai_default_template_gpu.json", as_json(provider.build_request(job)))


def test_build_request_is_pure_and_equal_for_equal_jobs():
    job = make_job(CONFIGURATION, run_id=RUN_ID, pool_type="vertex-ai")
    provider = make_provider()
    assert as_json(provider.build_request(job)) == as_json(provider.build_request(job))
