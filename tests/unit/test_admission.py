"""The waterfall of design §3, table-driven.

Each case names a pool (limit, paused), its queues (priority, limit, paused,
slots already held) and SCHEDULED runs ("queue:minutes" relative to now,
negative = overdue), and the runs the planner must release, in order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import FlowRun, WorkPool, WorkQueue
from core.ports import SlotCounters
from core.rules.waterfall import Snapshot, WaitReason, plan
from core.states import StateType, new_state

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Q:
    name: str
    priority: int
    limit: int | None = None
    paused: bool = False
    active: int = 0


def make_pool(limit: int | None = None, paused: bool = False) -> WorkPool:
    return WorkPool(
        id="pool",
        name="pool",
        type="process",
        is_paused=paused,
        concurrency_limit=limit,
        default_queue_id="default",
        created=NOW,
        updated=NOW,
    )


def make_queue(q: Q) -> WorkQueue:
    return WorkQueue(
        id=q.name,
        pool_id="pool",
        name=q.name,
        priority=q.priority,
        concurrency_limit=q.limit,
        is_paused=q.paused,
        created=NOW,
        updated=NOW,
    )


def make_run(
    spec: str, *, state: StateType = StateType.SCHEDULED, pool_id: str = "pool"
) -> FlowRun:
    """``"high:-5"`` is a run in queue ``high`` due five minutes ago; an
    optional third part names it (``"high:0:b"``), else the spec is its id."""
    queue, minutes, *name = spec.split(":")
    when = NOW + timedelta(minutes=float(minutes))
    return FlowRun(
        id=name[0] if name else spec,
        name=spec,
        flow_id="flow",
        work_pool_id=pool_id,
        work_pool_name="pool",
        work_queue_id=queue,
        work_queue_name=queue,
        state=new_state(state, at=NOW, scheduled_time=when),
        next_scheduled_start_time=when,
        created=NOW,
        updated=NOW,
    )


def snapshot(
    queues: list[Q],
    runs: list[str],
    *,
    pool_limit: int | None = None,
    pool_paused: bool = False,
    window: timedelta = timedelta(0),
    extra_active: int = 0,
) -> Snapshot:
    counters = SlotCounters(
        pool_active=sum(q.active for q in queues) + extra_active,
        queue_active={q.name: q.active for q in queues},
    )
    return Snapshot(
        pool=make_pool(pool_limit, pool_paused),
        queues=[make_queue(q) for q in queues],
        counters=counters,
        runs=[make_run(r) for r in runs],
        now=NOW,
        window=window,
    )


def released(snap: Snapshot) -> list[str]:
    return [run.id for run in plan(snap).releases]


# -- the table -------------------------------------------------------------------

HIGH, LOW = Q("high", 1), Q("low", 2)

CASES = {
    "test_no_limits_release_everything_eligible_in_priority_then_time_order": (
        dict(queues=[LOW, HIGH], runs=["low:-9", "high:-1", "high:-3", "low:-2"]),
        ["high:-3", "high:-1", "low:-9", "low:-2"],
    ),
    "test_lower_priority_queue_gets_slots_left_by_a_capped_queue": (
        dict(
            queues=[Q("high", 1, limit=1), LOW],
            runs=["high:-3", "high:-2", "high:-1", "low:-1", "low:0"],
            pool_limit=3,
        ),
        ["high:-3", "low:-1", "low:0"],
    ),
    "test_capped_queue_with_held_slots_passes_all_pool_slots_down": (
        dict(
            queues=[Q("high", 1, limit=2, active=2), LOW],
            runs=["high:-3", "low:-1", "low:0"],
            pool_limit=4,
        ),
        ["low:-1", "low:0"],
    ),
    "test_priority_beats_lateness": (
        dict(queues=[HIGH, LOW], runs=["low:-60", "high:0"], pool_limit=1),
        ["high:0"],
    ),
    "test_pool_limit_takes_the_earliest_runs_of_the_first_queue": (
        dict(queues=[HIGH, LOW], runs=["high:-1", "high:-2", "low:-3"], pool_limit=1),
        ["high:-2"],
    ),
    "test_paused_queue_releases_nothing_but_its_running_runs_fill_the_pool": (
        dict(
            queues=[Q("high", 1, paused=True, active=2), LOW],
            runs=["high:-5", "low:-1", "low:0"],
            pool_limit=3,
        ),
        ["low:-1"],
    ),
    "test_paused_pool_releases_nothing": (
        dict(queues=[HIGH, LOW], runs=["high:-1", "low:-1"], pool_paused=True),
        [],
    ),
    "test_pool_limit_zero_releases_nothing": (
        dict(queues=[HIGH], runs=["high:-1"], pool_limit=0),
        [],
    ),
    "test_queue_limit_zero_holds_only_that_queue": (
        dict(queues=[Q("high", 1, limit=0), LOW], runs=["high:-1", "low:-1"]),
        ["low:-1"],
    ),
    "test_full_pool_releases_nothing": (
        dict(queues=[Q("high", 1, active=2)], runs=["high:-1"], pool_limit=2),
        [],
    ),
    "test_runs_beyond_the_look_ahead_window_wait": (
        dict(queues=[HIGH], runs=["high:0", "high:0.5", "high:2"], window=timedelta(minutes=1)),
        ["high:0", "high:0.5"],
    ),
    "test_runs_due_exactly_now_are_released_without_a_window": (
        dict(queues=[HIGH], runs=["high:0", "high:0.01"]),
        ["high:0"],
    ),
    "test_queue_limit_counts_slots_already_held": (
        dict(queues=[Q("high", 1, limit=3, active=2)], runs=["high:-2", "high:-1"]),
        ["high:-2"],
    ),
    "test_pool_limit_counts_slots_held_by_every_queue": (
        dict(
            queues=[Q("high", 1), Q("low", 2, active=1)],
            runs=["high:-2", "high:-1"],
            pool_limit=2,
        ),
        ["high:-2"],
    ),
    "test_priority_is_by_number_not_by_listing_or_name_order": (
        dict(
            queues=[Q("a", 10), Q("z", 1), Q("m", 5, limit=1)],
            runs=["a:-9", "m:-8", "m:-7", "z:-1"],
            pool_limit=3,
        ),
        ["z:-1", "m:-8", "a:-9"],
    ),
    "test_prefect_docs_example_critical_high_low": (
        dict(
            queues=[Q("low", 10), Q("high", 5, limit=3, active=1), Q("critical", 1, limit=1)],
            runs=["low:-9", "high:-8", "high:-7", "high:-6", "critical:-1", "critical:0"],
            pool_limit=5,
        ),
        ["critical:-1", "high:-8", "high:-7", "low:-9"],
    ),
}


@pytest.mark.parametrize("kwargs, expected", list(CASES.values()), ids=list(CASES))
def test_waterfall(kwargs, expected):
    assert released(snapshot(**kwargs)) == expected


# -- tie-breaking and robustness -------------------------------------------------


def test_same_time_runs_are_released_in_run_id_order():
    snap = snapshot([HIGH], ["high:0:b", "high:0:c", "high:0:a"], pool_limit=2)
    assert released(snap) == ["a", "b"]


def test_runs_that_are_not_scheduled_or_of_another_pool_are_ignored():
    snap = snapshot([HIGH], ["high:-1"])
    others = [
        make_run("high:-2", state=StateType.PENDING),
        make_run("high:-3", state=StateType.COMPLETED),
        make_run("high:-4", pool_id="other"),
    ]
    snap = Snapshot(
        pool=snap.pool,
        queues=snap.queues,
        counters=snap.counters,
        runs=[*snap.runs, *others],
        now=NOW,
    )
    result = plan(snap)
    assert [r.id for r in result.releases] == ["high:-1"]
    assert result.waiting == ()


def test_drifted_counters_above_the_limit_release_nothing():
    snap = snapshot([Q("high", 1, limit=1, active=3)], ["high:-1"], pool_limit=2)
    assert released(snap) == []
    assert plan(snap).pool_free == 0


def test_late_and_awaiting_retry_runs_are_still_eligible():
    late = make_run("high:-10").model_copy(
        update={"state": new_state(StateType.SCHEDULED, at=NOW, name="Late")}
    )
    retry = make_run("high:-5").model_copy(
        update={"state": new_state(StateType.SCHEDULED, at=NOW, name="AwaitingRetry")}
    )
    snap = snapshot([HIGH], [])
    snap = Snapshot(
        pool=snap.pool, queues=snap.queues, counters=snap.counters, runs=[retry, late], now=NOW
    )
    assert released(snap) == ["high:-10", "high:-5"]


# -- why runs wait (work-pool preview) ---------------------------------------------


def reasons(snap: Snapshot) -> dict[str, WaitReason]:
    return {w.run.id: w.reason for w in plan(snap).waiting}


def test_every_unreleased_candidate_gets_the_reason_it_waits():
    snap = snapshot(
        [
            Q("high", 1, limit=1),
            Q("paused", 2, paused=True),
            Q("low", 3),
        ],
        ["high:-3", "high:-2", "paused:-9", "low:-1", "low:-0.5", "low:30", "gone:-1"],
        pool_limit=2,
        window=timedelta(minutes=1),
    )
    assert released(snap) == ["high:-3", "low:-1"]
    assert reasons(snap) == {
        "high:-2": WaitReason.QUEUE_FULL,
        "paused:-9": WaitReason.QUEUE_PAUSED,
        "low:-0.5": WaitReason.POOL_FULL,
        "low:30": WaitReason.NOT_YET_DUE,
        "gone:-1": WaitReason.QUEUE_MISSING,
    }


def test_paused_pool_is_the_reason_for_every_run_even_in_a_paused_queue():
    snap = snapshot(
        [HIGH, Q("p", 2, paused=True)], ["high:-1", "p:-1", "high:90"], pool_paused=True
    )
    assert set(reasons(snap).values()) == {WaitReason.POOL_PAUSED}
    assert len(reasons(snap)) == 3


def test_plan_reports_free_slots_per_queue_and_pool():
    snap = snapshot(
        [Q("high", 1, limit=3, active=1), Q("low", 2, active=2)], ["high:-1"], pool_limit=5
    )
    result = plan(snap)
    assert result.pool_free == 2
    assert result.queue_free == {"high": 2, "low": None}
    assert result.reason_for("high:-1") is None


# -- properties over random snapshots ------------------------------------------------


@st.composite
def snapshots(draw) -> Snapshot:
    n_queues = draw(st.integers(1, 4))
    priorities = draw(
        st.lists(st.integers(1, 9), min_size=n_queues, max_size=n_queues, unique=True)
    )
    queues = [
        Q(
            f"q{i}",
            priority,
            limit=draw(st.none() | st.integers(0, 3)),
            paused=draw(st.booleans()),
            active=draw(st.integers(0, 3)),
        )
        for i, priority in enumerate(priorities)
    ]
    runs = [
        f"q{draw(st.integers(0, n_queues - 1))}:{draw(st.integers(-30, 5))}:r{i}"
        for i in range(draw(st.integers(0, 12)))
    ]
    return snapshot(
        queues,
        runs,
        pool_limit=draw(st.none() | st.integers(0, 8)),
        pool_paused=draw(st.booleans()),
        window=timedelta(minutes=draw(st.integers(0, 3))),
    )


def order_key(snap: Snapshot, run: FlowRun) -> tuple[int, datetime, str]:
    priority = {q.id: q.priority for q in snap.queues}[run.work_queue_id]
    return (priority, run.next_scheduled_start_time, run.id)


@settings(max_examples=300, deadline=None)
@given(snapshots())
def test_the_waterfall_never_overfills_and_never_leaves_a_usable_slot_idle(snap):
    result = plan(snap)
    releases = list(result.releases)
    queues = {q.id: q for q in snap.queues}

    # Everything is accounted for exactly once.
    accounted = [r.id for r in releases] + [w.run.id for w in result.waiting]
    assert sorted(accounted) == sorted(r.id for r in snap.runs)
    # Release order is (queue priority, scheduled time, run id).
    assert releases == sorted(releases, key=lambda r: order_key(snap, r))
    # No limit is exceeded.
    if result.pool_free is not None:
        assert len(releases) <= result.pool_free
    per_queue = Counter(r.work_queue_id for r in releases)
    for queue_id, count in per_queue.items():
        free = result.queue_free[queue_id]
        assert free is None or count <= free
        assert not queues[queue_id].is_paused and not snap.pool.is_paused
        assert all(r.next_scheduled_start_time <= snap.horizon for r in releases)
    # A waiting run waits for its stated reason, and for no slot left unused.
    for waiting in result.waiting:
        queue_id = waiting.run.work_queue_id
        if waiting.reason is WaitReason.QUEUE_FULL:
            assert per_queue[queue_id] == result.queue_free[queue_id]
        if waiting.reason is WaitReason.POOL_FULL:
            assert len(releases) == result.pool_free
            assert all(order_key(snap, r) < order_key(snap, waiting.run) for r in releases)
