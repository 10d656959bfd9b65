"""Failures at every step boundary, duplicates and reordering: the system heals.

Each scenario breaks one step of a run's life (the process dies right after
a claim, between a submit and its recording, or while a run's slot is being
released; messages and events arrive twice or out of order; providers fail),
then lets the system do what it does in production: SQS redelivers, the
tick ticks and triggers dispatches, infrastructure runs and reports.  After
one final reaper pass every run is terminal or SCHEDULED, no slot counter
disagrees with the runs, no run has more than one infrastructure, and none
is left running unaccounted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from core.errors import Transient
from core.ports import InfraPhase, InfraStatus
from core.services.admission import DEFAULT_LEASE, DEFAULT_RESUME_AFTER
from core.services.dispatch import Dispatcher, DispatchIncomplete
from core.services.observe import apply_status
from core.services.reaper import reap
from core.services.tick import Ticker
from core.states import SLOT_HOLDING, TERMINAL, StateType
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_queue, add_run
from tests.integration.support import (
    Crash,
    HookedStore,
    RecordingProvider,
    provider_factory,
    token_for,
)

RUNNING = InfraStatus(phase=InfraPhase.RUNNING)
EXITED_0 = InfraStatus(phase=InfraPhase.EXITED, exit_code=0)


class World:
    """One push pool, its runs, and the production loops around them."""

    def __init__(self, store, runs: int = 4) -> None:
        self.real = store
        self.store = HookedStore(store)
        self.clock = FakeClock()
        self.provider = RecordingProvider()
        self.pool, default = add_pool(store, limit=2, pool_type="ecs:push")
        other = add_queue(store, self.pool, "other", priority=2, limit=1)
        self.runs = [
            add_run(store, self.pool, (default, other)[i % 2], at=NOW - timedelta(seconds=i))
            for i in range(runs)
        ]
        self.dispatcher = Dispatcher(
            store=self.store,
            clock=self.clock,
            pool_types=REGISTRY,
            provider_for=provider_factory(self.provider),
            run_token=token_for,
            api_url="http://localhost",
        )
        self.ticker = Ticker(
            store=self.store,
            clock=self.clock,
            pool_types=REGISTRY,
            provider_for=provider_factory(self.provider),
        )
        self.failed_deliveries = 0

    # -- what production does -------------------------------------------------------
    def deliver(self, **kwargs) -> None:
        """One dispatch message; a failure leaves it for SQS to redeliver."""
        try:
            self.dispatcher.dispatch(self.pool.name, **kwargs)
        except (Crash, DispatchIncomplete, Transient):
            self.failed_deliveries += 1

    def event(self, infra, status) -> None:
        """An infrastructure event, matched to its run by tags (run id, attempt)."""
        # A Crash is the event handler dying; EventBridge may or may not retry.
        with contextlib.suppress(Crash):
            apply_status(
                self.store,
                run_id=infra.run_id,
                infra_id=infra.infra_id,
                status=status,
                clock=self.clock,
                attempt=infra.attempt,
            )

    def infrastructure_runs_to_completion(self) -> None:
        for infra in self.provider.live():
            self.provider.start(infra.infra_id)
            self.event(infra, RUNNING)
            self.provider.finish(infra.infra_id, 0)
            self.event(infra, EXITED_0)

    def tick(self) -> None:
        report = self.ticker.tick()
        for request in report.dispatch:
            if request.not_before is None or request.not_before <= self.clock():
                self.deliver()

    def heal(self, rounds: int = 8) -> None:
        """Minutes pass: ticks, the dispatches they trigger, infrastructure finishing."""
        for _ in range(rounds):
            self.clock.advance(seconds=DEFAULT_RESUME_AFTER.total_seconds() + 1)
            self.tick()
            self.infrastructure_runs_to_completion()

    # -- the invariants -----------------------------------------------------------------
    def assert_sound_after_one_reaper_pass(self) -> None:
        self.clock.advance(seconds=DEFAULT_LEASE.total_seconds() + 1)
        report = reap(self.real, clock=self.clock)
        assert report.repairs == (), "a slot counter had drifted (a leak)"
        runs = [self.real.get_run(r.id) for r in self.runs]
        for run in runs:
            assert run.state_type in TERMINAL | {StateType.SCHEDULED}, (run.id, run.state)
        holding = [r for r in runs if r.state_type in SLOT_HOLDING]
        counters = self.real.counters(self.pool.id)
        assert counters.pool_active == len(holding) == 0
        assert set(counters.queue_active.values()) == {0}
        per_run = self.provider.infrastructures_per_run()
        assert all(n == 1 for n in per_run.values()), f"submitted twice: {per_run}"
        assert self.provider.live() == [], "infrastructure left running unaccounted"
        for run in runs:
            if run.infrastructure_pid is not None:
                assert self.provider.by_key[f"{run.id}-{run.attempt}"] == run.infrastructure_pid

    def states(self) -> dict[StateType, int]:
        found: dict[StateType, int] = {}
        for run in self.runs:
            kind = self.real.get_run(run.id).state_type
            found[kind] = found.get(kind, 0) + 1
        return found


def crash(*args, **kwargs):
    raise Crash("the process died here")


def crash_when(predicate: Callable[..., bool]):
    """A sticky hook that crashes the first call matching ``predicate``."""
    fired = threading.Event()

    def hook(*args, **kwargs):
        if not fired.is_set() and predicate(*args, **kwargs):
            fired.set()
            raise Crash("the process died here")

    return hook


# -- step boundaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("which_claim", [1, 2])
def test_crash_after_a_claim_before_the_submit_is_resumed_under_the_same_attempt(
    store, which_claim
):
    world = World(store)
    claims = iter(range(1, 10))
    world.store.after("claim", crash_when(lambda _: next(claims) == which_claim), sticky=True)

    world.deliver()
    assert world.states()[StateType.PENDING] == which_claim  # claimed, nothing submitted
    assert world.provider.submit_calls == {}
    world.heal()

    assert world.states() == {StateType.COMPLETED: 4}
    assert {world.real.get_run(r.id).attempt for r in world.runs} == {1}
    world.assert_sound_after_one_reaper_pass()


def test_crash_after_a_claim_with_no_dispatch_until_the_lease_ends_retries_as_attempt_2(store):
    world = World(store)
    world.store.after("claim", crash)

    world.deliver()
    world.clock.advance(seconds=DEFAULT_LEASE.total_seconds())  # no tick, no redelivery
    world.heal()

    assert world.states() == {StateType.COMPLETED: 4}
    attempts = sorted(world.real.get_run(r.id).attempt for r in world.runs)
    assert attempts == [1, 1, 1, 2]
    world.assert_sound_after_one_reaper_pass()


def test_crash_after_the_submit_before_it_is_recorded_is_resumed_onto_the_same_infrastructure(
    store,
):
    world = World(store)
    world.store.before("mark_submitted", crash)

    world.deliver()
    started = world.provider.live()
    assert len(started) == 1
    assert world.real.get_run(started[0].run_id).infrastructure_pid is None
    world.heal()

    assert world.states() == {StateType.COMPLETED: 4}
    assert world.real.get_run(started[0].run_id).infrastructure_pid == started[0].infra_id
    world.assert_sound_after_one_reaper_pass()


@pytest.mark.parametrize("redelivered", [True, False])
def test_crash_while_releasing_a_finished_runs_slot_leaves_it_whole_and_it_heals(
    store, redelivered
):
    world = World(store)
    world.deliver()
    world.store.before(
        "record_state",
        crash_when(lambda run, state: state.type is StateType.COMPLETED),
        sticky=True,
    )
    first = world.provider.live()[0]
    world.provider.start(first.infra_id)
    world.event(first, RUNNING)
    world.provider.finish(first.infra_id, 0)
    world.event(first, EXITED_0)  # the write that would release the slot dies

    stuck = world.real.get_run(first.run_id)
    assert stuck.state_type is StateType.RUNNING  # nothing half-done
    assert world.real.counters(world.pool.id).pool_active == 2
    if redelivered:
        world.event(first, EXITED_0)
        assert world.real.get_run(first.run_id).state_type is StateType.COMPLETED
    world.heal()  # otherwise the tick's poll finds the exit

    assert world.states() == {StateType.COMPLETED: 4}
    world.assert_sound_after_one_reaper_pass()


# -- duplicates and reordering ------------------------------------------------------------------


def test_duplicate_dispatch_messages_sequential_and_concurrent_submit_nothing_twice(store):
    world = World(store)
    world.deliver()
    world.deliver()
    threads = [threading.Thread(target=world.deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(world.provider.submit_calls.values()) == 2  # the pool limit
    world.heal()
    assert world.states() == {StateType.COMPLETED: 4}
    world.assert_sound_after_one_reaper_pass()


def test_reordered_and_duplicated_events_release_each_slot_exactly_once(store):
    world = World(store)
    world.deliver()
    first, second = world.provider.live()
    world.provider.finish(first.infra_id, 0)

    world.event(first, EXITED_0)  # the stop overtakes the start
    world.event(first, RUNNING)
    world.event(first, EXITED_0)
    world.event(first, InfraStatus(phase=InfraPhase.PENDING))

    assert world.real.get_run(first.run_id).state_type is StateType.COMPLETED
    assert world.real.get_run(second.run_id).state_type is StateType.PENDING
    assert world.real.counters(world.pool.id).pool_active == 1  # second still holds one
    world.heal()
    world.assert_sound_after_one_reaper_pass()


# -- provider failures --------------------------------------------------------------------------


def test_terminal_and_exhausted_retryable_failures_crash_their_runs_and_free_slots(store):
    world = World(store)
    terminal, flaky = world.runs[2], world.runs[0]  # the first two the waterfall releases
    world.provider.fail(terminal.id, retryable=False)
    world.provider.fail(flaky.id, retryable=True, times=10)

    world.deliver()
    assert world.real.get_run(terminal.id).state_type is StateType.CRASHED
    assert world.real.get_run(flaky.id).state_type is StateType.PENDING
    world.clock.advance(seconds=DEFAULT_RESUME_AFTER.total_seconds())
    world.deliver(final_attempt=True)  # the delivery before the DLQ
    world.heal()

    crashed = world.real.get_run(flaky.id)
    assert (crashed.state_type, crashed.attempt) == (StateType.CRASHED, 1)
    assert world.states() == {StateType.CRASHED: 2, StateType.COMPLETED: 2}
    world.assert_sound_after_one_reaper_pass()


def test_an_ambiguous_submit_failure_starts_one_infrastructure_only(store):
    world = World(store)
    world.provider.fail(world.runs[0].id, retryable=True, after_start=True, times=2)

    world.deliver()
    world.heal()

    assert world.states() == {StateType.COMPLETED: 4}
    assert world.provider.submit_calls[f"{world.runs[0].id}-1"] >= 2
    world.assert_sound_after_one_reaper_pass()
