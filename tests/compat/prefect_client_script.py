"""A script written for Prefect, run by Prefect's own Python in its own virtualenv
against ``PREFECT_API_URL=<pushpool>/api`` (tests/compat/test_prefect_client.py).

It uses only Prefect's public client and prints one JSON line of what it saw,
which the test checks against pushpool's own API.
"""

import asyncio
import json
import sys

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.states import Cancelled, Running


async def main(pool: str) -> dict:
    seen: dict = {}
    async with get_client() as client:
        created = await client.create_work_pool(
            WorkPoolCreate(name=pool, type="process", concurrency_limit=7)
        )
        await client.update_work_pool(pool, WorkPoolUpdate(description="from prefect"))
        read = await client.read_work_pool(pool)
        listed = await client.read_work_pools(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool]))
        )
        seen["pool"] = {
            "id": str(created.id),
            "read_id": str(read.id),
            "description": read.description,
            "limit": read.concurrency_limit,
            "listed": [p.name for p in listed],
        }

        queue = await client.create_work_queue(
            name="urgent", work_pool_name=pool, priority=1, concurrency_limit=2
        )
        queues = await client.read_work_queues(work_pool_name=pool)
        by_name = await client.read_work_queue_by_name("urgent", work_pool_name=pool)
        await client.update_work_queue(id=queue.id, concurrency_limit=3)
        seen["queues"] = {
            "created": str(queue.id),
            "by_name": str(by_name.id),
            "names": sorted(q.name for q in queues),
        }

        flow_id = await client.create_flow_from_name("etl")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name="nightly-client",
            work_pool_name=pool,
            work_queue_name="urgent",
            parameters={"day": "monday"},
            job_variables={"env": {"A": "1"}},
            entrypoint="flows/etl.py:etl",
            description="made by prefect's client",
        )
        deployment = await client.read_deployment(deployment_id)
        by_dep_name = await client.read_deployment_by_name("etl/nightly-client")
        deployments = await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["nightly-client"]))
        )
        seen["deployment"] = {
            "id": str(deployment_id),
            "by_name": str(by_dep_name.id),
            "listed": [str(d.id) for d in deployments],
            "queue": deployment.work_queue_name,
            "entrypoint": deployment.entrypoint,
        }

        run = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"day": "tuesday"}, job_variables={"env": {"B": "2"}}
        )
        other = await client.create_flow_run_from_deployment(deployment_id)
        await client.set_flow_run_state(run.id, Running(), force=True)
        await client.set_flow_run_state(other.id, Cancelled(), force=True)
        running = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))
            )
        )
        of_deployment = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        )
        read_run = await client.read_flow_run(run.id)
        seen["runs"] = {
            "run": str(run.id),
            "other": str(other.id),
            "running": [str(r.id) for r in running],
            "of_deployment": sorted(str(r.id) for r in of_deployment),
            "read_state": read_run.state.type.value,
            "parameters": read_run.parameters,
        }
    return seen


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
