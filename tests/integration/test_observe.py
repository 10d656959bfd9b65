"""Infrastructure events and polls applied to stored runs."""

from __future__ import annotations

from datetime import timedelta

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus
from core.services.context import Context
from core.services.lifecycle import observe_active
from core.services.observe import apply_status, rotation, slot_awaited
from core.services.runs import StateProposal, set_state
from core.states import StateType, new_state
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW, add_pool, add_run, claim, new_id
from tests.integration.support import RecordingProvider, Triggers

RUNNING = InfraStatus(phase=InfraPhase.RUNNING)
EXITED_0 = InfraStatus(phase=InfraPhase.EXITED, exit_code=0)


def submitted_run(store, pool, queue, pid="infra-1"):
    run = claim(store, add_run(store, pool, queue))
    return store.mark_submitted(run, infrastructure_pid=pid, at=NOW)


def test_events_walk_a_run_to_completion_and_free_its_slots(store):
    clock = FakeClock()
    pool, queue = add_pool(store, limit=1)
    run = submitted_run(store, pool, queue)

    started = apply_status(store, run_id=run.id, infra_id="infra-1", status=RUNNING, clock=clock)
    done = apply_status(store, run_id=run.id, infra_id="infra-1", status=EXITED_0, clock=clock)

    assert (started.was, started.now, started.released_slot) == (
        StateType.PENDING,
        StateType.RUNNING,
        False,
    )
    assert (done.now, done.released_slot, done.pool_name) == (StateType.COMPLETED, True, pool.name)
    assert store.get_run(run.id).state_type is StateType.COMPLETED
    assert store.counters(pool.id).pool_active == 0


def test_a_released_slot_is_awaited_only_by_a_due_run_of_its_pool(store):
    pool, queue = add_pool(store, limit=1)
    other, other_queue = add_pool(store)
    add_run(store, pool, queue, at=NOW + timedelta(minutes=5))  # due later
    add_run(store, other, other_queue, at=NOW)  # due, but another pool

    assert not slot_awaited(store, pool.id, NOW)
    assert slot_awaited(store, pool.id, NOW + timedelta(minutes=5))


def test_a_failing_check_asks_for_the_dispatch_pass_anyway(store, monkeypatch):
    pool, _ = add_pool(store)

    def unavailable(pool_id, before):
        raise ConnectionError("the store did not answer")

    monkeypatch.setattr(store, "has_due", unavailable)

    assert slot_awaited(store, pool.id, NOW)


def test_duplicate_late_and_foreign_events_change_nothing(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = submitted_run(store, pool, queue)
    apply_status(store, run_id=run.id, infra_id="infra-1", status=RUNNING, clock=clock)
    before = store.get_run(run.id)

    pending = InfraStatus(phase=InfraPhase.PENDING)
    assert (
        apply_status(store, run_id=run.id, infra_id="infra-1", status=RUNNING, clock=clock) is None
    )
    assert (
        apply_status(store, run_id=run.id, infra_id="infra-1", status=pending, clock=clock) is None
    )
    assert apply_status(store, run_id=run.id, infra_id="old", status=EXITED_0, clock=clock) is None
    assert (
        apply_status(store, run_id="nope", infra_id="infra-1", status=EXITED_0, clock=clock) is None
    )
    assert store.get_run(run.id) == before


def test_exit_zero_after_the_run_reported_failure_keeps_the_failure(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = submitted_run(store, pool, queue)
    store.record_state(run, new_state(StateType.FAILED, at=NOW, message="flow raised"))

    assert (
        apply_status(store, run_id=run.id, infra_id="infra-1", status=EXITED_0, clock=clock) is None
    )
    assert store.get_run(run.id).state.message == "flow raised"


def test_an_event_that_overtakes_the_submitter_records_the_infrastructure_itself(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))

    observed = apply_status(
        store, run_id=run.id, infra_id="task-9", status=RUNNING, clock=clock, attempt=1
    )

    stored = store.get_run(run.id)
    assert observed.now is StateType.RUNNING
    assert (stored.state_type, stored.infrastructure_pid) == (StateType.RUNNING, "task-9")
    # The submitter's own recording, arriving later, agrees and changes nothing.
    assert store.mark_submitted(run, infrastructure_pid="task-9", at=NOW) == stored


def test_an_event_for_a_previous_attempt_is_ignored(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    run = claim(store, add_run(store, pool, queue))
    back = new_state(StateType.SCHEDULED, at=NOW, name="AwaitingRetry", scheduled_time=NOW)
    run = claim(store, store.record_state(run, back))  # attempt 2, unsubmitted

    assert (
        apply_status(store, run_id=run.id, infra_id="t", status=RUNNING, clock=clock, attempt=1)
        is None
    )
    assert store.get_run(run.id).infrastructure_pid is None


def test_polling_applies_exits_and_vanished_infrastructure(store):
    clock = FakeClock()
    provider = RecordingProvider()
    pool, queue = add_pool(store)
    runs = []
    for _ in range(3):
        run = claim(store, add_run(store, pool, queue))
        infra_id = provider.submit({"run_id": run.id, "attempt": 1}, idempotency_key=run.id)
        runs.append(store.mark_submitted(run, infrastructure_pid=infra_id, at=NOW))
    provider.finish(runs[0].infrastructure_pid, exit_code=2)
    provider.vanish(runs[1].infrastructure_pid)

    report = observe_active(store, pool, provider, clock=clock).poll
    assert report is not None

    assert report.checked == 3
    assert store.get_run(runs[0].id).state.message == "Infrastructure exited with code 2"
    gone = store.get_run(runs[1].id)
    assert (gone.state_type, gone.state.message) == (
        StateType.CRASHED,
        f"{runs[1].infrastructure_pid} no longer exists",
    )
    assert store.get_run(runs[2].id).state_type is StateType.PENDING
    assert report.released_pools == {pool.name}
    assert store.counters(pool.id).pool_active == 1


def test_a_failing_status_call_is_reported_not_applied(store):
    class Down(RecordingProvider):
        def status(self, infra_id):
            raise InfrastructureError("describe_tasks throttled", retryable=True)

    pool, queue = add_pool(store)
    run = submitted_run(store, pool, queue)
    report = observe_active(store, pool, Down(), clock=FakeClock()).poll
    assert report is not None
    assert report.errors == (f"{run.id}: describe_tasks throttled",)
    assert store.get_run(run.id).state_type is StateType.PENDING


def test_polling_rotates_through_more_runs_than_one_batch(store):
    pool, queue = add_pool(store)
    runs = [submitted_run(store, pool, queue, pid=f"i-{n}") for n in range(5)]
    seen: set[str] = set()
    for minute in range(3):
        batch = rotation(runs, now=NOW + timedelta(minutes=minute), limit=2)
        assert len(batch) == 2
        seen.update(r.id for r in batch)
    assert seen == {r.id for r in runs}


def test_a_run_finishing_over_the_api_asks_for_a_pass_only_when_a_run_waits(store):
    clock = FakeClock()
    pool, queue = add_pool(store, limit=1)
    triggers = Triggers()
    ctx = Context(store=store, clock=clock, ids=new_id, types=REGISTRY, trigger=triggers)
    alone = submitted_run(store, pool, queue)
    read = store.get_run(alone.id)

    done = set_state(ctx, alone.id, StateProposal(type=StateType.COMPLETED), read=read)
    assert done.run.state_type is StateType.COMPLETED
    assert triggers.requests == []  # nothing due: no pass

    first = submitted_run(store, pool, queue, pid="infra-2")
    waiting = add_run(store, pool, queue)  # due now, held back by the pool's limit of 1
    set_state(ctx, first.id, StateProposal(type=StateType.FAILED))
    assert triggers.requests == [(pool.name, None)]
    assert store.get_run(waiting.id).state_type is StateType.SCHEDULED


def test_set_state_with_a_stale_read_re_reads_and_decides_again(store):
    clock = FakeClock()
    pool, queue = add_pool(store)
    ctx = Context(store=store, clock=clock, ids=new_id, types=REGISTRY, trigger=Triggers())
    run = submitted_run(store, pool, queue)
    stale = store.get_run(run.id)
    apply_status(store, run_id=run.id, infra_id="infra-1", status=RUNNING, clock=clock)

    result = set_state(ctx, run.id, StateProposal(type=StateType.COMPLETED), read=stale)

    stored = store.get_run(run.id)
    assert (result.run.state_type, stored.state_type) == (StateType.COMPLETED, StateType.COMPLETED)
    assert stored.version == stale.version + 2  # RUNNING, then COMPLETED: nothing overwritten


def test_a_run_sent_back_to_scheduled_and_due_asks_for_a_pass_whatever_the_index_shows(
    store, monkeypatch
):
    clock = FakeClock()
    pool, queue = add_pool(store)
    triggers = Triggers()
    ctx = Context(store=store, clock=clock, ids=new_id, types=REGISTRY, trigger=triggers)
    run = claim(store, add_run(store, pool, queue))  # claimed, nothing started yet
    monkeypatch.setattr(store, "has_due", lambda pool_id, before: False)  # an index lagging

    retry = StateProposal(type=StateType.SCHEDULED, name="AwaitingRetry", scheduled_time=NOW)
    result = set_state(ctx, run.id, retry, force=True)

    assert result.run.state_type is StateType.SCHEDULED
    assert triggers.requests == [(pool.name, None)]
