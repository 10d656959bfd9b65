from datetime import UTC, datetime, timedelta

import pytest

from core.errors import Forbidden, InvalidInput
from core.models import Worker
from core.ports import PoolMode
from core.rules.pools import check_pool_name, new_pool
from core.rules.status import (
    PoolReadiness,
    ReadyStatus,
    WorkerStatus,
    pool_readiness,
    queue_status,
    worker_status,
)
from core.states import StateType, is_late, new_state


def pool_status(pool, **kwargs):
    return pool_readiness(pool, **kwargs).status


NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "raw, clean", [(" my-pool ", "my-pool"), ("'quoted'", "quoted"), ('"q q"', "q q")]
)
def test_pool_names_are_stripped_of_spaces_and_quotes(raw, clean):
    assert check_pool_name(raw) == clean


@pytest.mark.parametrize("raw", ["", "  ", "''", "a/b", "50%", "x&y", "a>b", "a<b"])
def test_bad_pool_names_say_what_to_fix(raw):
    with pytest.raises(InvalidInput, match="name"):
        check_pool_name(raw)


@pytest.mark.parametrize("raw", ["prefect", "Prefect-agents", "PREFECTx"])
def test_prefect_prefix_is_reserved(raw):
    with pytest.raises(Forbidden, match="reserved"):
        check_pool_name(raw)


def _pool(**kw):
    pool, queue = new_pool(
        name="p",
        pool_type="process",
        base_job_template={},
        pool_id="pid",
        queue_id="qid",
        now=NOW,
        **kw,
    )
    return pool, queue


def test_new_pool_comes_with_a_default_queue_of_priority_one():
    pool, queue = _pool()
    assert pool.default_queue_id == queue.id
    assert (queue.name, queue.priority, queue.pool_id) == ("default", 1, pool.id)


def worker(seconds_ago: float, interval: int | None = None) -> Worker:
    return Worker(
        pool_id="pid",
        name="w",
        last_heartbeat_time=NOW - timedelta(seconds=seconds_ago),
        heartbeat_interval_seconds=interval,
        created=NOW,
    )


def test_worker_is_online_within_three_intervals():
    assert worker_status(worker(89), now=NOW) is WorkerStatus.ONLINE
    assert worker_status(worker(90), now=NOW) is WorkerStatus.OFFLINE
    assert worker_status(worker(29, interval=10), now=NOW) is WorkerStatus.ONLINE
    assert worker_status(worker(31, interval=10), now=NOW) is WorkerStatus.OFFLINE


def test_pull_pool_is_ready_only_with_an_online_worker():
    pool, _ = _pool()
    assert pool_status(pool, mode=PoolMode.PULL, workers=[], now=NOW) is ReadyStatus.NOT_READY
    assert (
        pool_status(pool, mode=PoolMode.PULL, workers=[worker(200), worker(5)], now=NOW)
        is ReadyStatus.READY
    )


def test_paused_beats_everything():
    pool, queue = _pool(is_paused=True)
    assert pool_status(pool, mode=PoolMode.PULL, workers=[worker(1)], now=NOW) is ReadyStatus.PAUSED
    paused_queue = queue.model_copy(update={"is_paused": True, "last_polled": NOW})
    assert queue_status(paused_queue, now=NOW) is ReadyStatus.PAUSED


@pytest.mark.parametrize("mode", [PoolMode.PUSH, PoolMode.MANAGED])
def test_a_new_or_idle_push_pool_is_ready_it_needs_no_worker_and_no_recent_dispatch(mode):
    pool, _ = _pool()
    idle = pool.model_copy(update={"last_dispatched": NOW - timedelta(days=3)})
    assert pool_readiness(pool, mode=mode, workers=[], now=NOW) == PoolReadiness(ReadyStatus.READY)
    assert pool_readiness(idle, mode=mode, workers=[], now=NOW) == PoolReadiness(ReadyStatus.READY)


def test_a_push_pool_without_dispatch_set_up_for_its_type_is_not_ready_and_says_why():
    pool, _ = _pool()
    readiness = pool_readiness(
        pool, mode=PoolMode.PUSH, workers=[], now=NOW, setup_problem="no dispatch for gcp pools"
    )
    assert readiness == PoolReadiness(ReadyStatus.NOT_READY, "no dispatch for gcp pools")


def test_a_push_pool_whose_last_dispatch_pass_submitted_nothing_is_not_ready_with_the_error():
    pool, _ = _pool()
    failing = pool.model_copy(update={"dispatch_problem": "credentials were rejected"})
    readiness = pool_readiness(failing, mode=PoolMode.PUSH, workers=[], now=NOW)
    assert readiness.status is ReadyStatus.NOT_READY
    assert readiness.reason is not None and "credentials were rejected" in readiness.reason
    paused = failing.model_copy(update={"is_paused": True})
    assert pool_readiness(paused, mode=PoolMode.PUSH, workers=[], now=NOW).status is (
        ReadyStatus.PAUSED
    )


def test_a_pull_pool_without_a_worker_says_so():
    pool, _ = _pool()
    reason = pool_readiness(pool, mode=PoolMode.PULL, workers=[], now=NOW).reason
    assert reason is not None and "worker" in reason


def test_queue_is_ready_when_polled_in_the_last_minute():
    _, queue = _pool()
    assert queue_status(queue, now=NOW) is ReadyStatus.NOT_READY
    polled = queue.model_copy(update={"last_polled": NOW - timedelta(seconds=59)})
    assert queue_status(polled, now=NOW) is ReadyStatus.READY


def test_a_run_is_late_fifteen_seconds_after_its_scheduled_time():
    due = NOW - timedelta(seconds=15)
    scheduled = new_state(StateType.SCHEDULED, at=due, scheduled_time=due)
    assert is_late(scheduled, now=NOW)
    assert not is_late(scheduled, now=NOW - timedelta(seconds=1))
    running = new_state(StateType.RUNNING, at=due)
    assert not is_late(running, now=NOW)


def test_state_names_must_match_their_type():
    assert new_state(StateType.SCHEDULED, at=NOW, name="AwaitingRetry").name == "AwaitingRetry"
    with pytest.raises(ValueError, match="not valid"):
        new_state(StateType.RUNNING, at=NOW, name="Late")
