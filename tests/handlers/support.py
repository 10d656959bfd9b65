"""Cold starts with test doubles, and Lambda events from the samples.

The handlers take their container from ``handlers.bootstrap.bootstrap()``;
``install`` makes a container built with overrides the process's one, as a
cold start would build it from the environment.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from core.models import Deployment, Flow, FlowRun
from core.ports import Store
from core.rules.pools import new_pool
from core.services.materialise import scheduled_run
from handlers import bootstrap as composition
from providers.registry import REGISTRY
from tests.contract.builders import NOW, new_id

EVENTS = Path(__file__).resolve().parents[1] / "events"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:pushpool-DispatchQueue-Xq3bM0vW7tYz"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-DispatchQueue-Xq3bM0vW7tYz"
GCP_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-DispatchQueueGcp-4hQm"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def install(monkeypatch: pytest.MonkeyPatch, container: composition.Container) -> None:
    monkeypatch.setattr(composition._Default, "container", container)


def sqs_event(
    *bodies: dict[str, Any], receive_count: int = 1, queue_arn: str = QUEUE_ARN
) -> dict[str, Any]:
    """A Lambda SQS event carrying these message bodies (shape of the sample)."""
    template = sample("sqs_dispatch_batch.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"message-{index}"
        record["receiptHandle"] = f"receipt-{index}"
        record["body"] = json.dumps(body)
        record["eventSourceARN"] = queue_arn
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def push_pool_with_deployment(
    store: Store,
    pool_type: str,
    *,
    name: str,
    job_variables: dict[str, Any],
    limit: int | None = None,
) -> Deployment:
    """A pool with its type's default template and a deployment on it."""
    pool, queue = new_pool(
        name=name,
        pool_type=pool_type,
        base_job_template=REGISTRY.default_template(pool_type),
        pool_id=new_id(),
        queue_id=new_id(),
        now=NOW,
        concurrency_limit=limit,
    )
    store.create_pool(pool, queue)
    flow = store.ensure_flow(Flow(id=new_id(), name="etl", created=NOW))
    deployment = Deployment(
        id=new_id(),
        name=f"nightly-on-{name}",
        flow_id=flow.id,
        flow_name=flow.name,
        work_pool_name=pool.name,
        work_queue_name="default",
        job_variables=job_variables,
        command="python -m flows.etl",
        created=NOW,
        updated=NOW,
    )
    store.create_deployment(deployment)
    return deployment


def due_run(
    store: Store, deployment: Deployment, *, run_id: str | None = None, when: datetime = NOW
) -> FlowRun:
    """A SCHEDULED run of the deployment due ``when`` (now by default)."""
    pool = store.get_pool(deployment.work_pool_name)
    queue = store.get_queue(pool.id, deployment.work_queue_name)
    run = scheduled_run(deployment, pool, queue, when=when, now=NOW)
    if run_id is not None:
        run = run.model_copy(update={"id": run_id})
    assert store.create_run(run)
    return store.get_run(run.id)
