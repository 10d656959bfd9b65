"""Full dispatcher passes racing over one pool never exceed a limit or double-submit.

Eight threads in one process, then two processes of four threads each plus
a checker process, run dispatcher passes (waterfall plan, atomic claim,
submit, record) against one pool whose pool and queues have limits, and
complete what they submitted through the event path.  Every observation of
the slot holders and counters is a check; the count is printed.  Any
observation over a limit, any run claimed or submitted twice, fails.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import pytest

from core.ports import Store
from core.states import StateType
from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.builders import NOW, add_pool, add_queue, add_run
from tests.contract.claimers import Limits, Tally
from tests.integration.dispatchers import checker_process, dispatcher_process, run_dispatchers

# moto serialises every DynamoDB request, so fewer runs keep those variants
# to seconds; SQLite gets more interleavings for the same time.
RUNS_PER_QUEUE = {"sqlite": 12}
DEFAULT_RUNS_PER_QUEUE = 6


def seed(store: Store, kind: str) -> tuple[str, Limits, int]:
    """An ecs:push pool (limit 3) with queues of limits none, 1 and 2."""
    pool, default = add_pool(store, limit=3, pool_type="ecs:push")
    one = add_queue(store, pool, "one", priority=2, limit=1)
    two = add_queue(store, pool, "two", priority=3, limit=2)
    per_queue = RUNS_PER_QUEUE.get(kind, DEFAULT_RUNS_PER_QUEUE)
    for queue in (default, one, two):
        for i in range(per_queue):
            add_run(store, pool, queue, at=NOW + timedelta(seconds=i))
    limits = Limits(pool_id=pool.id, pool=3, queues={default.id: None, one.id: 1, two.id: 2})
    return pool.name, limits, 3 * per_queue


def assert_each_run_once_and_all_done(
    store: Store, limits: Limits, tally: Tally, submitted_keys: list[str], runs_seeded: int
) -> None:
    print(
        f"\n{tally.checks} limit checks, {len(tally.claimed)} claims, "
        f"{len(submitted_keys)} submissions; no violation allowed"
    )
    assert tally.violations == []
    assert tally.checks > 0
    assert len(tally.claimed) == len(set(tally.claimed)), "a run was claimed twice"
    duplicates = [key for key, n in Counter(submitted_keys).items() if n > 1]
    assert duplicates == [], "a run was submitted twice"
    runs = store.list_runs(pool_id=limits.pool_id, limit=1000)
    assert len(runs) == runs_seeded
    assert sorted(tally.claimed) == sorted(r.id for r in runs)
    assert sorted(submitted_keys) == sorted(f"{r.id}-1" for r in runs)
    assert {r.state_type for r in runs} == {StateType.COMPLETED}
    counters = store.counters(limits.pool_id)
    assert counters.pool_active == 0
    assert set(counters.queue_active.values()) == {0}
    assert store.repair_counters(limits.pool_id) == []


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_eight_dispatcher_threads_respect_every_limit_and_submit_each_run_once(store, store_kind):
    pool_name, limits, seeded = seed(store, store_kind)

    tally, provider = run_dispatchers(store, pool_name, limits, threads=8)

    assert set(provider.submit_calls.values()) == {1}
    assert_each_run_once_and_all_done(store, limits, tally, list(provider.by_key), seeded)


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("store_kind", SHAREABLE_KINDS)
def test_two_dispatcher_processes_respect_every_limit_and_submit_each_run_once(
    store_url, store_kind
):
    from core.store import open_store

    store = open_store(store_url)
    pool_name, limits, seeded = seed(store, store_kind)

    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as executor:
        checker = executor.submit(checker_process, store_url, limits)
        workers = [
            executor.submit(dispatcher_process, store_url, pool_name, limits, 4) for _ in range(2)
        ]
        tally = Tally()
        keys: list[str] = []
        for future in workers:
            claimed, checks, violations, submitted = future.result()
            tally.merge(Tally(claimed=claimed, checks=checks, violations=violations))
            keys += submitted
        claimed, checks, violations = checker.result()
        tally.merge(Tally(checks=checks, violations=violations))

    assert_each_run_once_and_all_done(store, limits, tally, keys, seeded)
