"""One dispatcher per pool at a time (``core.services.pool_turns``) on the
real stores: racing dispatchers claim each run once with no lost claim, a
request that finds the pool busy is served by the holder, and a holder
killed mid-pass blocks the pool only until its lease expires."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from core.errors import Transient
from core.ports import Again
from core.services.admission import admit
from core.services.dispatch import HELD_ELSEWHERE, Dispatcher
from core.services.pool_turns import DEFAULT_TURN, in_turn
from core.states import StateType
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.builders import NOW, add_pool, add_queue, add_run
from tests.integration.support import RecordingProvider, provider_factory, token_for

LATER = NOW + timedelta(hours=1)
THREADS = 8
RUNS = 60
CLAIMS_PER_PASS = 4


def later():  # type: ignore[no-untyped-def]
    return LATER


def seed_three_queues(store, runs: int):  # type: ignore[no-untyped-def]
    pool, default = add_pool(store)
    queues = [
        default,
        add_queue(store, pool, "q2", priority=2),
        add_queue(store, pool, "q3", priority=3),
    ]
    for i in range(runs):
        add_run(store, pool, queues[i % 3], at=NOW + timedelta(milliseconds=i))
    return pool


@pytest.mark.timeout(180)
def test_racing_dispatchers_in_turns_claim_every_run_once_and_lose_no_claim(store):
    pool = seed_three_queues(store, RUNS)
    ids = itertools.count()
    claimed: list[str] = []
    lost: list[int] = []
    held_elsewhere: list[int] = []
    errors: list[str] = []
    start = threading.Barrier(THREADS)

    def one_pass(_resume: bool):  # type: ignore[no-untyped-def]
        return admit(store, pool.name, clock=later, max_claims=CLAIMS_PER_PASS)

    def dispatcher() -> None:
        start.wait()
        try:
            while True:
                try:
                    turn = in_turn(
                        store, pool.id, one_pass, holder=f"h{next(ids)}", clock=later, resume=False
                    )
                except Transient:
                    continue  # a busy SQLite file: try again, as the server's loop would
                if turn.held_elsewhere:
                    held_elsewhere.append(1)
                for admission in turn.passes:
                    claimed.extend(r.id for r in admission.claimed)
                    lost.append(admission.lost)
                if not store.list_due(pool.id, LATER, limit=1):
                    return
        except Exception as exc:  # reported: the assertions below would otherwise hang
            errors.append(repr(exc))

    threads = [threading.Thread(target=dispatcher) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    print(f"\n{len(claimed)} claims, {sum(lost)} lost, {len(held_elsewhere)} requests marked")
    assert errors == []
    assert len(claimed) == len(set(claimed)) == RUNS
    assert sum(lost) == 0
    assert held_elsewhere, "the dispatchers never met: the test proved nothing"
    active = store.list_active(pool.id)
    assert {r.id for r in active} == set(claimed)
    assert {r.state_type for r in active} == {StateType.PENDING}


def test_a_request_that_finds_the_pool_busy_is_served_by_the_holder(store):
    pool, queue = add_pool(store)
    first = add_run(store, pool, queue)
    passes: list[list[str]] = []
    inner: list[object] = []

    def holder_pass(_resume: bool) -> None:
        admission = admit(store, pool.name, clock=later)
        passes.append([r.id for r in admission.claimed])
        if len(passes) == 1:  # while we hold the turn, work arrives and is announced
            second = add_run(store, pool, queue)
            inner.append(second.id)
            turn = in_turn(store, pool.id, holder_pass, holder="b", clock=later, resume=False)
            assert turn.held_elsewhere

    turn = in_turn(store, pool.id, holder_pass, holder="a", clock=later, resume=False)

    assert len(turn.passes) == 2
    assert passes == [[first.id], inner]
    # released at the end: the next request takes the turn at once
    assert store.take_dispatch_turn(
        pool.id, "c", at=LATER, until=LATER + DEFAULT_TURN, again=Again.ADMIT
    )


def test_a_pass_that_raises_releases_the_turn(store):
    pool, _ = add_pool(store)

    def failing(_resume: bool) -> None:
        raise Transient("the provider is throttled")

    with pytest.raises(Transient):
        in_turn(store, pool.id, failing, holder="a", clock=later, resume=False)
    assert store.take_dispatch_turn(
        pool.id, "b", at=LATER, until=LATER + DEFAULT_TURN, again=Again.ADMIT
    )


def test_a_holder_asked_without_pause_stops_after_max_passes_and_asks_for_more(store):
    pool, _ = add_pool(store)
    count = itertools.count()

    def nagged(_resume: bool) -> int:
        store.take_dispatch_turn(
            pool.id, f"x{next(count)}", at=LATER, until=LATER, again=Again.ADMIT
        )
        return 0

    turn = in_turn(store, pool.id, nagged, holder="a", clock=later, resume=False, max_passes=3)

    assert len(turn.passes) == 3
    assert turn.more
    assert store.take_dispatch_turn(
        pool.id, "b", at=LATER, until=LATER + DEFAULT_TURN, again=Again.ADMIT
    )


def test_a_resume_request_makes_the_holder_look_after_active_runs(store):
    pool, _ = add_pool(store)
    asked: list[bool] = []

    def holder_pass(resume: bool) -> None:
        asked.append(resume)
        if len(asked) == 1:
            in_turn(store, pool.id, lambda r: None, holder="b", clock=later, resume=True)

    in_turn(store, pool.id, holder_pass, holder="a", clock=later, resume=False)

    assert asked == [False, True]


# -- the dispatcher --------------------------------------------------------------------


def dispatcher_with_turns(store, provider, clock) -> Dispatcher:  # type: ignore[no-untyped-def]
    ids = itertools.count()
    return Dispatcher(
        store=store,
        clock=clock,
        pool_types=REGISTRY,
        provider_for=provider_factory(provider),
        run_token=token_for,
        api_url="https://pushpool.example/api",
        turn_ids=lambda: f"pass-{next(ids)}",
    )


def test_a_dispatcher_whose_pool_is_busy_claims_nothing_and_leaves_a_mark(store):
    provider = RecordingProvider()
    clock = FakeClock()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)
    store.take_dispatch_turn(pool.id, "other", at=NOW, until=NOW + DEFAULT_TURN, again=Again.ADMIT)

    report = dispatcher_with_turns(store, provider, clock).dispatch(pool.name, resume=False)

    assert report.skipped == HELD_ELSEWHERE
    assert store.get_run(run.id).state_type is StateType.SCHEDULED
    assert store.end_dispatch_turn(pool.id, "other", until=NOW + DEFAULT_TURN) is Again.ADMIT


def test_a_dispatcher_in_turns_submits_and_records_the_pass_with_the_turn(store):
    provider = RecordingProvider()
    clock = FakeClock()
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)

    report = dispatcher_with_turns(store, provider, clock).dispatch(pool.name)

    assert [s.run_id for s in report.submitted] == [run.id]
    assert store.get_pool(pool.name).last_dispatched == NOW
    assert store.take_dispatch_turn(
        pool.id, "next", at=NOW, until=NOW + DEFAULT_TURN, again=Again.ADMIT
    )


# -- kill -9 -----------------------------------------------------------------------------

HOLD_AND_HANG = """
import sys, time
from datetime import datetime, timedelta
from core.services.pool_turns import in_turn
from core.store import open_store
url, pool_id, at = sys.argv[1:4]
store = open_store(url)
moment = datetime.fromisoformat(at)
def hang(_resume):
    print("holding", flush=True)
    time.sleep(600)
in_turn(store, pool_id, hang, holder="doomed", clock=lambda: moment, resume=False)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("store_kind", SHAREABLE_KINDS)
def test_a_holder_killed_mid_pass_blocks_the_pool_only_until_its_lease_expires(
    store_url, store_kind
):
    from core.store import open_store

    store = open_store(store_url)
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_HANG, store_url, pool.id, NOW.isoformat()],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()

    def admit_at(moment):  # type: ignore[no-untyped-def]
        return in_turn(
            store,
            pool.id,
            lambda _r: admit(store, pool.name, clock=lambda: moment),
            holder=f"after-{moment.isoformat()}",
            clock=lambda: moment,
            resume=False,
        )

    just_before = NOW + DEFAULT_TURN - timedelta(milliseconds=1)
    assert admit_at(just_before).held_elsewhere
    assert store.get_run(run.id).state_type is StateType.SCHEDULED
    taken = admit_at(NOW + DEFAULT_TURN)
    assert [r.id for r in taken.passes[0].claimed] == [run.id]


def test_a_dispatcher_with_nothing_to_claim_passes_without_touching_the_turn(store):
    provider = RecordingProvider()
    pool, queue = add_pool(store, pool_type="ecs:push")
    add_run(store, pool, queue, at=NOW + timedelta(minutes=5))  # not due yet
    store.take_dispatch_turn(pool.id, "other", at=NOW, until=NOW + DEFAULT_TURN, again=Again.ADMIT)

    report = dispatcher_with_turns(store, provider, FakeClock()).dispatch(pool.name, resume=False)

    assert report.skipped == ""
    assert report.submitted == ()
    assert store.end_dispatch_turn(pool.id, "other", until=NOW + DEFAULT_TURN) is None  # no mark
