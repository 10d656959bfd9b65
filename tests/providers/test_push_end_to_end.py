"""Push pools on Cloud Run, ACI and Modal, end to end, with limits respected.

A pool of each type, with its default base job template and a concurrency
limit of 2, gets runs from a deployment's schedule; then the tick and the
dispatcher alternate as they would in the deployed stack (tick → dispatch →
submit → poll), while the test plays the cloud: it starts whatever was
submitted and ends it on the next round.  Through the official SDKs and the
local fakes (Cloud Run, ARM) or the seam fake (Modal), every run must end in
the state its exit code says, on exactly one infrastructure, and never more
than two may be alive at once — neither in the store's counters nor in the
cloud.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials

from core.models import Deployment, Flow, Schedule
from core.ports import Provider, Store
from core.rules.pools import new_pool
from core.services.dispatch import Dispatcher
from core.services.tick import Ticker, TickSettings
from core.states import TERMINAL, StateType
from core.store import open_store
from providers import aci, cloud_run
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, new_id
from tests.fakes.arm_server import FakeArm
from tests.fakes.cloud_run_server import FakeCloudRun
from tests.fakes.modal_client import FakeModal
from tests.providers.contract import ProviderHarness
from tests.providers.test_aci import SUBSCRIPTION, StaticToken, client_kwargs
from tests.providers.test_aci_contract import AciHarness
from tests.providers.test_cloud_run_contract import CloudRunHarness
from tests.providers.test_modal_contract import ModalHarness

LIMIT = 2
RUNS = 5
FAILING_EXIT = 3


@dataclass
class Cloud:
    pool_type: str
    job_variables: dict[str, Any]
    harness: ProviderHarness


def cloud_run_cloud(stack: ExitStack) -> Cloud:
    fake = stack.enter_context(FakeCloudRun())
    provider = cloud_run.make_provider(
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": fake.url},
        poll_interval=0.01,
    )
    variables = {"project": "demo-project", "region": "europe-west1", "image": "flows:1"}
    return Cloud("cloud-run-v2:push", variables, CloudRunHarness(fake, provider))


def aci_cloud(stack: ExitStack) -> Cloud:
    fake = stack.enter_context(FakeArm())
    provider = aci.make_provider(credential=StaticToken(), client_kwargs=client_kwargs(fake))
    variables = {
        "subscription_id": SUBSCRIPTION,
        "resource_group_name": "flows-rg",
        "image": "flows:1",
    }
    return Cloud("azure-container-instance:push", variables, AciHarness(fake, provider))


def modal_cloud(stack: ExitStack) -> Cloud:
    fake = FakeModal()
    fake.deploy("flows", "run_flow")
    variables = {"app_name": "flows", "function_name": "run_flow"}
    return Cloud("modal:push", variables, ModalHarness(fake, variables))


@pytest.fixture(params=[cloud_run_cloud, aci_cloud, modal_cloud], ids=["cloud_run", "aci", "modal"])
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    make: Callable[[ExitStack], Cloud] = request.param
    with ExitStack() as stack:
        yield make(stack)


def seed(store: Store, cloud: Cloud) -> tuple[str, Deployment]:
    pool, queue = new_pool(
        name=f"{cloud.pool_type.replace(':', '-')}-pool",
        pool_type=cloud.pool_type,
        base_job_template=REGISTRY.default_template(cloud.pool_type),
        pool_id=new_id(),
        queue_id=new_id(),
        now=NOW,
        concurrency_limit=LIMIT,
    )
    store.create_pool(pool, queue)
    flow = store.ensure_flow(Flow(id=new_id(), name="etl", created=NOW))
    deployment = Deployment(
        id=new_id(),
        name="every-ten-seconds",
        flow_id=flow.id,
        flow_name=flow.name,
        work_pool_name=pool.name,
        work_queue_name="default",
        job_variables=cloud.job_variables,
        command="python -m flows.etl",
        schedules=(Schedule(interval=10, anchor_date=NOW),),
        created=NOW,
        updated=NOW,
    )
    store.create_deployment(deployment)
    return pool.id, deployment


def test_a_push_pool_runs_every_scheduled_run_to_its_outcome_within_the_limit(
    cloud: Cloud, tmp_path: Path
):
    clock = FakeClock(NOW)
    store = open_store(f"sqlite:///{tmp_path / 'pushpool.db'}", clock=clock)
    pool_id, deployment = seed(store, cloud)
    provider: Provider = cloud.harness.provider
    ticker = Ticker(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=lambda pool: provider,
        settings=TickSettings(max_runs_per_deployment=RUNS),
    )
    dispatcher = Dispatcher(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=lambda pool: provider,
        run_token=lambda run: f"token-{run.id}",
        api_url="https://pushpool.example/api",
    )

    created = ticker.tick().created
    store.update_deployment(store.get_deployment(deployment.id).model_copy(update={"paused": True}))
    assert len(created) == RUNS
    failing = min(created)
    clock.advance(minutes=1)  # every run is due

    started: set[str] = set()
    ended: set[str] = set()
    busiest = 0
    for _ in range(40):
        report = ticker.tick()
        for request in report.dispatch:
            if request.not_before is None or request.not_before <= clock():
                dispatcher.dispatch(request.pool_name)
        active = store.list_active(pool_id)
        assert store.counters(pool_id).pool_active <= LIMIT
        assert len(active) <= LIMIT
        assert len(started - ended) <= LIMIT  # alive in the cloud
        busiest = max(busiest, len(active))
        if not active and all(store.get_run(run_id).state_type in TERMINAL for run_id in created):
            break
        for run in active:  # play the cloud: start what was submitted, end it next round
            infra_id = run.infrastructure_pid
            if infra_id is None or infra_id in ended:
                continue
            if infra_id in started:
                cloud.harness.exit(infra_id, FAILING_EXIT if run.id == failing else 0)
                ended.add(infra_id)
            else:
                cloud.harness.start(infra_id)
                started.add(infra_id)
        clock.advance(seconds=5)

    outcomes = {run_id: store.get_run(run_id) for run_id in created}
    assert {run_id: run.state_type for run_id, run in outcomes.items()} == {
        run_id: StateType.FAILED if run_id == failing else StateType.COMPLETED for run_id in created
    }
    assert f"exited with code {FAILING_EXIT}" in outcomes[failing].state.message
    assert cloud.harness.infrastructure_count() == RUNS  # exactly one per run
    assert busiest == LIMIT  # the limit was reached, and held
    assert store.counters(pool_id).pool_active == 0
    assert all(run.attempt == 1 for run in outcomes.values())
    assert clock() - NOW < timedelta(minutes=5)
