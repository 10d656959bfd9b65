"""Admission as a use case: read a pool's snapshot, plan the waterfall, claim.

``preview`` is read-only (``work-pool preview``, a worker's
``get_scheduled_flow_runs``).  ``admit`` claims what the plan releases; each
claim is the store's one conditional write, so a planner working from a
stale snapshot can lose a race but never exceed a limit.  A lost claim means
the snapshot was stale: ``admit`` reads a fresh one and plans again, a
bounded number of times, so concurrent dispatchers converge instead of
spinning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from core.errors import CapacityFull, Conflict, NotFound
from core.models import Deployment, FlowRun, WorkPool, WorkQueue
from core.ports import Clock, Store
from core.rules.late_runs import SKIPPED, LateRunPolicy, effective, late_skips
from core.rules.waterfall import Plan, Snapshot, free_slots, plan
from core.states import StateType, new_state

# A dispatcher triggered at a run's due second may read a clock a hair
# earlier than the run's scheduled time; one second of look-ahead keeps it
# from waiting a whole tick for that.
DEFAULT_WINDOW = timedelta(seconds=1)
DEFAULT_LEASE = timedelta(minutes=5)
# A claim younger than this may still be in its claimant's hands; a claim
# older than this, unsubmitted and within its lease, is *stalled*: its
# claimant died or hit a retryable error, and a dispatcher pass resumes it
# with the same idempotency key (see ``core.services.dispatch``).
DEFAULT_RESUME_AFTER = timedelta(seconds=30)
MAX_REPLANS = 3
PASS_MARK_FRESH = timedelta(seconds=30)
CLAIM_MESSAGE = "Claimed for submission"


@dataclass(frozen=True)
class Preview:
    pool: WorkPool
    plan: Plan
    now: datetime
    # Runs the late-run policy would skip (run -> why), left out of ``plan``.
    skipped: Mapping[str, FlowRun] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Admission:
    """What one ``admit`` call claimed, and how contested it was."""

    pool: WorkPool
    claimed: tuple[FlowRun, ...] = ()
    lost: int = 0  # claims another claimant won, or a limit refused
    replans: int = 0
    waiting: int = 0  # candidates the last plan left waiting


def snapshot(
    store: Store, pool: WorkPool, *, now: datetime, window: timedelta, horizon: timedelta
) -> Snapshot:
    """The pool as the planner needs it; ``horizon`` (≥ window) bounds the
    candidates read, so a preview can show runs that are not yet due."""
    return Snapshot(
        pool=pool,
        queues=store.list_queues(pool.id),
        counters=store.counters(pool.id),
        runs=store.list_due(pool.id, now + max(window, horizon)),
        now=now,
        window=window,
    )


def preview(
    store: Store,
    pool_name: str,
    *,
    clock: Clock,
    window: timedelta = DEFAULT_WINDOW,
    horizon: timedelta = timedelta(hours=1),
) -> Preview:
    """What the pool would release now, and why every other run due within
    ``horizon`` waits.  Reads only."""
    now = clock()
    pool = store.get_pool(pool_name)
    snap = snapshot(store, pool, now=now, window=window, horizon=horizon)
    reasons = late_run_skips(store, pool, snap.runs, now=now)
    skipped = {r.id: r for r in snap.runs if r.id in reasons}
    kept = replace(snap, runs=[r for r in snap.runs if r.id not in reasons])
    return Preview(pool=pool, plan=plan(kept), now=now, skipped=skipped, reasons=reasons)


def admit(
    store: Store,
    pool_name: str,
    *,
    clock: Clock,
    window: timedelta = DEFAULT_WINDOW,
    lease: timedelta = DEFAULT_LEASE,
    max_claims: int | None = None,
    max_replans: int = MAX_REPLANS,
    pool: WorkPool | None = None,
    first: Snapshot | None = None,
) -> Admission:
    """Claim what the waterfall releases for ``pool_name`` now.

    Claimed runs are PENDING with a submit lease of ``lease``; the caller
    submits them.  ``max_claims`` bounds one pass (a Lambda has a deadline);
    the rest stays SCHEDULED for the next pass.  ``pool``, if the caller
    has just read it, saves reading it again; ``first``, a ``releasable``
    snapshot the caller has just read with the same ``max_claims``, saves
    the first plan's reads (a stale one only costs a re-plan).  Raises
    ``NotFound`` if the pool is gone.
    """
    pool = pool or store.get_pool(pool_name)
    claimed: list[FlowRun] = []
    lost = replans = waiting = 0
    now = clock()
    queues: Sequence[WorkQueue] = ()
    for attempt in range(max_replans + 1):
        now = clock()
        if attempt:
            replans += 1
            pool = store.get_pool(pool_name)
        if pool.is_paused:
            break
        budget = None if max_claims is None else max_claims - len(claimed)
        if attempt == 0 and first is not None:
            snap, now = first, first.now
        else:
            snap = releasable(store, pool, now=now, window=window, max_claims=budget)
        queues = snap.queues
        current = plan(snap)
        waiting = len(current.waiting)
        releases = current.releases if budget is None else current.releases[:budget]
        outcome = _claim_all(store, releases, now=now, lease=lease)
        claimed.extend(outcome.claimed)
        lost += outcome.lost
        if not outcome.lost:
            break
    _record_pass(store, pool, queues, now=now)
    return Admission(pool=pool, claimed=tuple(claimed), lost=lost, replans=replans, waiting=waiting)


def releasable(
    store: Store, pool: WorkPool, *, now: datetime, window: timedelta, max_claims: int | None
) -> Snapshot:
    """The pool as ``admit`` plans it: per queue, in the waterfall's order,
    only the first due runs its free slots can release (within the pool's
    free slots and ``max_claims``), plus one, so ``plan`` over it releases
    exactly what it would over every due run and still sees whether more
    wait.  A pass's reads and memory thus follow its free slots, not the
    backlog.  Late runs the policy skips are ended as they are met, and the
    read repeated for the runs behind them (design §3's semantics are kept:
    queue priority, per-queue and pool limits, FIFO by scheduled time)."""
    queues = store.list_queues(pool.id)
    counters = store.counters(pool.id)
    runs: list[FlowRun] = []
    budget = _least(free_slots(pool.concurrency_limit, counters.pool_active), max_claims)
    for queue in sorted(queues, key=lambda q: (q.priority, q.id)):
        if pool.is_paused or (budget is not None and budget <= 0):
            break
        free = free_slots(queue.concurrency_limit, counters.queue_active.get(queue.id, 0))
        want = _least(free, budget)
        if queue.is_paused or want == 0:
            continue
        kept = _due_in_queue(store, pool, queue, before=now + window, want=want, now=now)
        runs += kept
        if budget is not None:
            budget -= min(len(kept), want or 0)
    return Snapshot(pool=pool, queues=queues, counters=counters, runs=runs, now=now, window=window)


# A queue whose first runs are all late-skipped is read again this many
# times in one pass at most; the next pass goes on.
MAX_SKIP_READS = 5


def _due_in_queue(
    store: Store,
    pool: WorkPool,
    queue: WorkQueue,
    *,
    before: datetime,
    want: int | None,
    now: datetime,
) -> list[FlowRun]:
    """The queue's first ``want`` + 1 due runs the late-run policy keeps."""
    limit = None if want is None else want + 1
    kept: list[FlowRun] = []
    for _ in range(MAX_SKIP_READS):
        runs = store.list_due(pool.id, before, queue_id=queue.id, limit=limit)
        reasons = late_run_skips(store, pool, runs, now=now)
        kept = [r for r in runs if r.id not in reasons]
        if not reasons:
            break
        end_skipped(store, [r for r in runs if r.id in reasons], reasons, now=now)
        if limit is None or len(runs) < limit:
            break  # nothing behind them: no need to read again
    return kept


def _least(a: int | None, b: int | None) -> int | None:
    """The smaller of two limits, None meaning unlimited."""
    if a is None:
        return b
    return a if b is None else min(a, b)


def late_run_skips(
    store: Store, pool: WorkPool, runs: Sequence[FlowRun], *, now: datetime
) -> dict[str, str]:
    """``core.rules.late_runs.late_skips`` with each run's policy: its deployment's,
    else the pool's.  A deployment is read only for a Late run of it."""
    deployments: dict[str, Deployment | None] = {}

    def policy_of(run: FlowRun) -> LateRunPolicy:
        own = None
        if run.deployment_id is not None:
            if run.deployment_id not in deployments:
                try:
                    deployments[run.deployment_id] = store.get_deployment(run.deployment_id)
                except NotFound:
                    deployments[run.deployment_id] = None
            deployment = deployments[run.deployment_id]
            own = deployment.late_runs if deployment is not None else None
        return effective(own, pool.late_runs)

    return late_skips(runs, policy_of=policy_of, now=now)


def skippable(
    pool: WorkPool,
    queues: Sequence[WorkQueue],
    runs: Sequence[FlowRun],
    reasons: Mapping[str, str],
) -> list[FlowRun]:
    """The skipped runs to end now: a paused pool or queue changes nothing
    until it is resumed (``preview`` still shows what will be skipped then)."""
    if pool.is_paused:
        return []
    paused = {q.id for q in queues if q.is_paused}
    return [r for r in runs if r.id in reasons and r.work_queue_id not in paused]


def end_skipped(
    store: Store, runs: Sequence[FlowRun], reasons: Mapping[str, str], *, now: datetime
) -> None:
    """CANCELLED ("Skipped") with the policy's reason; a run that moved on
    meanwhile (claimed, cancelled, deleted) is someone else's to decide."""
    for run in runs:
        state = new_state(StateType.CANCELLED, at=now, name=SKIPPED, message=reasons[run.id])
        try:
            store.record_state(run, state)
        except (Conflict, NotFound):
            continue


def _record_pass(
    store: Store, pool: WorkPool, queues: Sequence[WorkQueue], *, now: datetime
) -> None:
    """A dispatcher pass is what makes a push pool and its queues READY.

    Statuses look back 60 s (queues) and 2 min (pools), so a mark younger
    than ``PASS_MARK_FRESH`` is left alone: busy pools do not pay two writes
    per pass for a status that cannot change.
    """
    fresh = now - PASS_MARK_FRESH
    if pool.last_dispatched is None or pool.last_dispatched <= fresh:
        store.record_dispatch(pool.id, now)
    stale = [
        q.id
        for q in queues
        if not q.is_paused and (q.last_polled is None or q.last_polled <= fresh)
    ]
    if stale:
        store.record_poll(pool.id, stale, now)


@dataclass
class _Outcome:
    claimed: list[FlowRun] = field(default_factory=list)
    lost: int = 0


def _claim_all(
    store: Store, releases: tuple[FlowRun, ...], *, now: datetime, lease: timedelta
) -> _Outcome:
    """Claim ``releases`` in order.  A run someone else took frees its planned
    slot, so the rest are still worth trying; a full pool or queue means the
    counters moved under us, so stop and let the caller plan again."""
    outcome = _Outcome()
    state = new_state(StateType.PENDING, at=now, message=CLAIM_MESSAGE)
    for run in releases:
        try:
            outcome.claimed.append(store.claim(run, state=state, lease_expires=now + lease))
        except CapacityFull:
            outcome.lost += 1
            break
        except Conflict:
            outcome.lost += 1
    return outcome
