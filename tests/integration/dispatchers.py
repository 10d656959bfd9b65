"""Dispatcher threads for the concurrency test, importable by child processes.

Each thread runs full dispatcher passes (plan, claim, build the job, submit,
record) against one pool, then plays the infrastructure: it reports each
submitted run RUNNING and then exited, through the same service the event
handler uses.  After every pass it checks the limits; a separate checker
samples them continuously.  Functions take plain values (a store URL, ids,
limits) so spawned processes can run them.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

from core.errors import Transient
from core.ports import InfraPhase, InfraStatus, Store
from core.services.dispatch import Dispatcher
from core.services.observe import apply_status
from core.states import StateType
from core.store import open_store
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW
from tests.contract.claimers import Limits, Tally, check_active
from tests.integration.support import RecordingProvider, provider_factory, token_for

DEADLINE_SECONDS = 60.0
UNFINISHED = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
clock = FakeClock(NOW + timedelta(hours=1))  # every seeded run is due; the clock never moves


def retrying(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """SQLite answers a long lock wait with ``Transient``; so may DynamoDB."""
    while True:
        try:
            return call(*args, **kwargs)
        except Transient:
            time.sleep(random.uniform(0.001, 0.01))


def unfinished(store: Store, pool_id: str) -> bool:
    return bool(retrying(store.list_runs, pool_id=pool_id, state_types=UNFINISHED, limit=1))


def dispatch_loop(
    store: Store, pool_name: str, limits: Limits, tally: Tally, provider: RecordingProvider
) -> None:
    rng = random.Random()
    dispatcher = Dispatcher(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=provider_factory(provider),
        run_token=token_for,
        api_url="http://localhost",
        max_claims=rng.choice([1, 2]),
    )
    running = InfraStatus(phase=InfraPhase.RUNNING)
    exited = InfraStatus(phase=InfraPhase.EXITED, exit_code=0)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        report = retrying(dispatcher.dispatch, pool_name, resume=False)
        if not report.submitted:
            if not unfinished(store, limits.pool_id):
                return
            time.sleep(rng.uniform(0.001, 0.005))
            continue
        tally.claimed.extend(s.run_id for s in report.submitted)
        retrying(check_active, store, limits, tally)
        for sub in report.submitted:
            for status in (running, exited):
                time.sleep(rng.uniform(0, 0.003))
                retrying(
                    apply_status,
                    store,
                    run_id=sub.run_id,
                    infra_id=sub.infrastructure_pid,
                    status=status,
                    clock=clock,
                )
    tally.violations.append("dispatcher gave up at its deadline")


def run_dispatchers(
    store: Store, pool_name: str, limits: Limits, threads: int
) -> tuple[Tally, RecordingProvider]:
    """``threads`` dispatcher threads on one store and one provider."""
    provider = RecordingProvider()
    tallies = [Tally() for _ in range(threads)]
    workers = [
        threading.Thread(target=dispatch_loop, args=(store, pool_name, limits, t, provider))
        for t in tallies
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total, provider


def dispatcher_process(
    url: str, pool_name: str, limits: Limits, threads: int
) -> tuple[list[str], int, list[str], list[str]]:
    """A dispatching process: claimed ids, checks, violations, idempotency keys submitted."""
    tally, provider = run_dispatchers(open_store(url), pool_name, limits, threads)
    return (*tally.export(), list(provider.by_key))


def checker_process(url: str, limits: Limits) -> tuple[list[str], int, list[str]]:
    """Sample the store's slot holders and counters until every run is finished."""
    store = open_store(url)
    tally = Tally()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        retrying(check_active, store, limits, tally)
        if not unfinished(store, limits.pool_id):
            return tally.export()
    tally.violations.append("checker gave up at its deadline")
    return tally.export()
