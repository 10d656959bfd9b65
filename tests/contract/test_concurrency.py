"""No limit is ever exceeded and no run is claimed twice, under real concurrency.

Claimers race for the runs of one pool whose pool and queues have limits,
in threads of one process and in threads of two processes sharing one
store (a SQLite file, or DynamoDB behind moto's server), while a checker
samples how many runs hold slots.  Every observation is counted and
printed; any observation over a limit fails the test.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import pytest

from core.ports import Store
from core.states import StateType
from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.builders import NOW, add_pool, add_queue, add_run
from tests.contract.claimers import Limits, Tally, checker_process, claimer_process, run_claimers

RUNS_PER_QUEUE = 8


def seed(store: Store) -> Limits:
    """A pool (limit 3) with queues of limits none, 1 and 2, and runs in each."""
    pool, default = add_pool(store, limit=3)
    one = add_queue(store, pool, "one", priority=2, limit=1)
    two = add_queue(store, pool, "two", priority=3, limit=2)
    for queue in (default, one, two):
        for i in range(RUNS_PER_QUEUE):
            add_run(store, pool, queue, at=NOW + timedelta(seconds=i))
    return Limits(
        pool_id=pool.id,
        pool=3,
        queues={default.id: None, one.id: 1, two.id: 2},
    )


def assert_all_done_once(store: Store, limits: Limits, tally: Tally) -> None:
    print(f"\n{tally.checks} limit checks, {len(tally.claimed)} claims, no violation allowed")
    assert tally.violations == []
    assert len(tally.claimed) == len(set(tally.claimed)), "a run was claimed twice"
    runs = store.list_runs(pool_id=limits.pool_id, limit=1000)
    assert sorted(tally.claimed) == sorted(r.id for r in runs)
    assert {r.state_type for r in runs} == {StateType.COMPLETED}
    assert {r.attempt for r in runs} == {1}
    counters = store.counters(limits.pool_id)
    assert counters.pool_active == 0
    assert set(counters.queue_active.values()) == {0}
    assert store.repair_counters(limits.pool_id) == []


@pytest.mark.slow
def test_eight_threads_never_exceed_a_limit_or_claim_twice(store):
    limits = seed(store)

    tally = run_claimers(store, limits, threads=8)

    assert tally.checks > 0
    assert_all_done_once(store, limits, tally)


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("store_kind", SHAREABLE_KINDS)
def test_two_processes_of_four_threads_never_exceed_a_limit_or_claim_twice(store_url):
    from core.store import open_store

    store = open_store(store_url)
    limits = seed(store)

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as pool:
        checker = pool.submit(checker_process, store_url, limits)
        claimers = [pool.submit(claimer_process, store_url, limits, 4) for _ in range(2)]
        tally = Tally()
        for future in (*claimers, checker):
            claimed, checks, violations = future.result()
            tally.merge(Tally(claimed=claimed, checks=checks, violations=violations))

    checker_checks = checker.result()[1]
    print(f"\nthe separate checker process made {checker_checks} checks")
    assert checker_checks > 0
    assert_all_done_once(store, limits, tally)
