"""The tick reads only the deployments whose schedule needs extending (issue 16).

What it reads is counted by a proxy over the real store (a count, not a
time); the changes that must make the next tick look again go through the
services a user's request goes through; two ticks at once still create
each run once.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from core.models import Schedule
from core.rules.schedules import scheduled_run_id
from core.services import deployments as deployment_service
from core.services import queues as queue_service
from core.services.context import Context
from core.services.deployments import DeploymentChanges
from core.services.tick import Ticker, TickSettings
from core.states import StateType
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.builders import NOW, add_pool, make_deployment, new_id
from tests.integration.support import RecordingProvider, provider_factory

EVERY_10_MIN = Schedule(cron="*/10 * * * *")


class CountingStore:
    """The store, counting the objects each method returned."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.objects: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            out = attr(*args, **kwargs)
            self.objects[name] += len(out) if isinstance(out, list | dict) else 1
            return out

        return counted


def ticker(store, clock, **settings) -> Ticker:
    return Ticker(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=provider_factory(RecordingProvider()),
        settings=TickSettings(**settings),
    )


def deploy(store, pool, count, schedule=EVERY_10_MIN):
    made = []
    for i in range(count):
        name = f"{pool.name}-{len(store.list_deployments())}-{i}"
        deployment = make_deployment(pool, name=name).model_copy(update={"schedules": (schedule,)})
        store.create_deployment(deployment)
        made.append(deployment)
    return made


def reads_of_a_quiet_tick(store, deployments: int) -> Counter[str]:
    """Objects a tick reads once every schedule is materialised: one pool, no due runs."""
    clock = FakeClock()
    pool, _ = add_pool(store, name=f"pool-{deployments}")
    deploy(store, pool, deployments, schedule=Schedule(cron="5-59/10 * * * *"))
    ticker(store, clock).tick()  # materialises them all
    clock.advance(minutes=1)
    counting = CountingStore(store)
    report = ticker(counting, clock).tick()
    assert report.created == () and report.errors == ()
    return counting.objects


def test_a_tick_with_nothing_to_extend_reads_the_same_with_4_or_40_deployments(store):
    few = reads_of_a_quiet_tick(store, 4)
    assert few["deployments_to_schedule"] == 0
    store_total = sum(few.values())

    many = reads_of_a_quiet_tick(store, 40)  # on top of the first pool's

    assert many["deployments_to_schedule"] == 0
    assert "list_deployments" not in many and "list_runs" not in many
    # The second pool's own list_pools/slot reads are all that grows.
    assert sum(many.values()) <= store_total + 4


def test_a_tick_reads_only_the_deployments_whose_schedule_runs_out(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    deploy(store, pool, 10)
    hourly = deploy(store, pool, 1, schedule=Schedule(cron="15 * * * *"))[0]
    ticker(store, clock).tick()
    clock.advance(minutes=31)  # the 10-minute schedules are 29 min from their end
    counting = CountingStore(store)

    report = ticker(counting, clock).tick()

    assert counting.objects["deployments_to_schedule"] == 10  # not the hourly one
    assert counting.objects["list_runs"] == 0  # progress says which runs exist
    assert counting.objects["get_pool"] == 1 and counting.objects["get_queue"] == 1
    assert len(report.created) == 10 * 4  # NOW+60 .. NOW+90 each
    assert hourly.id not in {r.deployment_id for r in store.list_runs() if r.id in report.created}


def ctx(store, clock) -> Context:
    return Context(store=store, clock=clock, ids=new_id, types=REGISTRY)


def test_pausing_resuming_and_editing_a_schedule_are_seen_by_the_next_tick(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    deployment = deploy(store, pool, 1)[0]
    t = ticker(store, clock)
    assert len(t.tick().created) == 6
    c = ctx(store, clock)

    deployment_service.update_deployment(c, deployment.id, DeploymentChanges(paused=True))
    clock.advance(minutes=40)
    assert t.tick().created == ()  # paused: nothing, though its runs ran out
    deployment_service.update_deployment(c, deployment.id, DeploymentChanges(paused=False))
    assert len(t.tick().created) == 4  # NOW+60 .. NOW+90, at once, not in half an hour

    every_5 = (Schedule(cron="*/5 * * * *"),)
    deployment_service.update_deployment(c, deployment.id, DeploymentChanges(schedules=every_5))
    created = t.tick().created
    expected = [NOW + timedelta(minutes=m) for m in range(45, 100, 10)]  # the new odd fives
    assert created == tuple(scheduled_run_id(deployment.id, at) for at in expected)


def test_runs_deleted_with_their_queue_come_back_when_it_is_created_again(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    c = ctx(store, clock)
    queue_service.create_queue(c, pool.name, name="night")
    deployment = make_deployment(pool, queue_name="night").model_copy(
        update={"schedules": (EVERY_10_MIN,)}
    )
    store.create_deployment(deployment)
    t = ticker(store, clock)
    assert len(t.tick().created) == 6

    queue_service.delete_queue(c, pool.name, "night")
    assert store.list_runs(deployment_id=deployment.id) == []
    queue_service.create_queue(c, pool.name, name="night")

    assert len(t.tick().created) == 6


def test_two_ticks_at_once_create_each_run_once(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    made = deploy(store, pool, 12)
    barrier = threading.Barrier(2)
    reports = []

    def tick() -> None:
        barrier.wait()
        reports.append(ticker(store, clock).tick())

    for _ in range(3):  # the first materialisation, then extensions
        threads = [threading.Thread(target=tick) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clock.advance(minutes=31)

    created = [run_id for report in reports for run_id in report.created]
    assert len(created) == len(set(created))  # no run reported by both ticks
    runs = store.list_runs(limit=10_000)
    assert sorted(created) == sorted(r.id for r in runs)
    assert all(r.state_type is StateType.SCHEDULED or r.state.name == "Late" for r in runs)
    per_deployment = Counter(r.deployment_id for r in runs)
    assert set(per_deployment) == {d.id for d in made}
    # NOW..NOW+50, then at NOW+31 NOW+60..NOW+90; at NOW+62 the next end
    # (NOW+100) is more than half an hour away.
    assert set(per_deployment.values()) == {10}


def test_settings_that_could_never_extend_a_schedule_are_refused_up_front():
    for bad in (timedelta(0), timedelta(hours=2)):
        with pytest.raises(ValueError, match="extend_within"):
            TickSettings(extend_within=bad)
    with pytest.raises(ValueError, match="schedule_batch"):
        TickSettings(schedule_batch=0)


class DiesBeforeRecording:
    """The store, but the tick is killed after creating runs, before recording progress."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def mark_materialised(self, *args: Any, **kwargs: Any) -> bool:
        raise SystemExit("killed")


def test_a_tick_killed_before_recording_progress_leaves_nothing_to_create_twice(store):
    clock = FakeClock()
    pool, _ = add_pool(store)
    deployment = deploy(store, pool, 1)[0]
    with pytest.raises(SystemExit):
        ticker(DiesBeforeRecording(store), clock).tick()
    first = {r.id for r in store.list_runs(deployment_id=deployment.id)}
    assert len(first) == 6

    report = ticker(store, clock).tick()

    assert report.created == () and report.errors == ()
    assert {r.id for r in store.list_runs(deployment_id=deployment.id)} == first
    assert store.deployments_to_schedule(NOW + timedelta(minutes=30), limit=10) == []


def tick_process(url: str) -> list[str]:
    """Tick at NOW, NOW+31 and NOW+62 min in a process of its own; the runs it created."""
    from core.store import open_store

    store, clock, created = open_store(url), FakeClock(), []
    for _ in range(3):
        created.extend(ticker(store, clock).tick().created)
        clock.advance(minutes=31)
    return created


@pytest.mark.timeout(180)
@pytest.mark.parametrize("store_kind", SHAREABLE_KINDS)
def test_two_tick_processes_at_once_create_each_run_once(store_url):
    from core.store import open_store

    store = open_store(store_url)
    pool, _ = add_pool(store)
    made = deploy(store, pool, 8)

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as processes:
        futures = [processes.submit(tick_process, store_url) for _ in range(2)]
        created = [run_id for future in futures for run_id in future.result()]

    assert len(created) == len(set(created))  # no run created by both
    runs = store.list_runs(limit=10_000)
    assert sorted(created) == sorted(r.id for r in runs)
    assert Counter(r.deployment_id for r in runs) == {d.id: 10 for d in made}
