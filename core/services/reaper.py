"""The reaper: nothing holds a slot forever (design §3, "Leases and the reaper").

A dispatcher or worker can die between any two steps, and infrastructure
can fail without a word.  Each pass looks at every slot-holding run:

* claimed, never submitted, lease over: back to SCHEDULED as a new attempt
  (``core.rules.runs.transition`` bumps ``attempt``, so the next submission uses
  a new idempotency key and cannot be mistaken for the abandoned one);
* submitted but not RUNNING within the pool's start timeout: CRASHED, and
  its infrastructure stopped if a ``stop`` callback is given (so it cannot
  start later and run without a slot);
* CANCELLING with nothing ever submitted: CANCELLED (there is nothing to stop);

notes pools with *stalled* claims (unsubmitted, older than ``resume_after``,
lease still running) so the tick can trigger a dispatcher pass that resumes
them with the same idempotency key long before the lease gives up on them,
and pools with CANCELLING runs whose infrastructure is still to be stopped
(so a stop request that was lost is made again); and then recounts the pool's slot counters from its runs, repairing drift.
Every change is a conditional write; a run that moved meanwhile is left to
whoever moved it.  Infrastructure that *vanished* is found by the tick's
provider poll (``core.services.observe``), which crashes the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.errors import Conflict, NotFound
from core.models import FlowRun, Worker, WorkPool
from core.ports import Clock, CounterRepair, Store
from core.rules.timeouts import (
    DEFAULT_SUBMIT_ATTEMPTS,
    heartbeat_timeout,
    start_timeout,
    submit_attempts,
)
from core.services.admission import DEFAULT_LEASE, DEFAULT_RESUME_AFTER
from core.services.lifecycle import is_stalled
from core.states import SLOT_HOLDING, State, StateType, new_state

StartTimeout = Callable[[WorkPool], timedelta]
Stop = Callable[[WorkPool, str], str]
"""Stops the infrastructure with this id; returns a note for the report."""


@dataclass(frozen=True)
class Reaped:
    run_id: str
    pool_name: str
    attempt: int
    to: StateType
    reason: str
    note: str = ""


@dataclass(frozen=True)
class ReapReport:
    reaped: tuple[Reaped, ...] = ()
    repairs: tuple[CounterRepair, ...] = ()
    stalled_pools: frozenset[str] = frozenset()
    # Pools with CANCELLING runs that have infrastructure: a dispatcher pass
    # (or the local observe loop) stops it.
    cancelling_pools: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()  # pools whose pass failed, with why

    @property
    def released_pools(self) -> frozenset[str]:
        """Pools where a slot was freed or a run came back: worth a dispatch."""
        return frozenset(r.pool_name for r in self.reaped)


def verdict(
    run: FlowRun,
    *,
    now: datetime,
    lease: timedelta,
    start_timeout: timedelta,
    dead_owner: str | None = None,
    attempts: int = DEFAULT_SUBMIT_ATTEMPTS,
) -> State | None:
    """What the reaper does to one slot-holding run, or None to leave it.
    ``dead_owner``: why the worker that claimed it counts as gone."""
    kind = run.state.type
    if dead_owner is not None and kind in SLOT_HOLDING:
        # Ended, never retried: the dead worker may have started something
        # that still runs, and a new attempt beside it would run twice.
        ended = StateType.CANCELLED if kind is StateType.CANCELLING else StateType.CRASHED
        return new_state(ended, at=now, message=f"Attempt {run.attempt}: {dead_owner}")
    if run.infrastructure_pid is None and kind in (StateType.PENDING, StateType.CANCELLING):
        expires = run.lease_expires or run.state.timestamp + lease
        if now < expires:
            return None
        if kind is StateType.CANCELLING:
            return new_state(
                StateType.CANCELLED, at=now, message="Cancelled before any infrastructure started"
            )
        if run.attempt >= attempts:
            return new_state(
                StateType.CRASHED,
                at=now,
                message=(
                    f"Attempt {run.attempt} of {attempts} was claimed but never submitted before "
                    "its lease ended; giving up (the pool's submit_attempts)"
                ),
            )
        return new_state(
            StateType.SCHEDULED,
            at=now,
            name="AwaitingRetry",
            scheduled_time=run.next_scheduled_start_time,
            message=(
                f"Attempt {run.attempt} was claimed but never submitted before its lease "
                f"ended; retrying as attempt {run.attempt + 1}"
            ),
        )
    if kind is StateType.PENDING and run.infrastructure_pid is not None:
        since = run.submitted_at or run.state.timestamp
        if now - since < start_timeout:
            return None
        seconds = int(start_timeout.total_seconds())
        return new_state(
            StateType.CRASHED,
            at=now,
            message=(
                f"Infrastructure {run.infrastructure_pid} did not start within {seconds} s "
                "(the pool's start timeout)"
            ),
        )
    return None


@dataclass
class _Pass:
    """What one reaper pass has found so far."""

    store: Store
    now: datetime
    lease: timedelta
    resume_after: timedelta
    stop: Stop | None
    reaped: list[Reaped] = field(default_factory=list)
    repairs: list[CounterRepair] = field(default_factory=list)
    stalled: set[str] = field(default_factory=set)
    cancelling: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


def reap(
    store: Store,
    *,
    clock: Clock,
    pools: Iterable[WorkPool] | None = None,
    lease: timedelta = DEFAULT_LEASE,
    start_timeout_for: StartTimeout = start_timeout,
    resume_after: timedelta = DEFAULT_RESUME_AFTER,
    stop: Stop | None = None,
) -> ReapReport:
    """One pass over ``pools`` (default: all): expire leases, end the claims
    of dead workers, crash runs that never started, then repair the pools'
    slot counters.  One pool's failure is reported and the others proceed."""
    work = _Pass(store, now=clock(), lease=lease, resume_after=resume_after, stop=stop)
    for pool in store.list_pools() if pools is None else pools:
        try:
            _reap_pool(work, pool, start_timeout_for(pool))
        except NotFound:
            continue  # deleted during the pass
        except Exception as exc:
            work.errors.append(f"reaping work pool {pool.name}: {type(exc).__name__}: {exc}")
    return ReapReport(
        reaped=tuple(work.reaped),
        repairs=tuple(work.repairs),
        stalled_pools=frozenset(work.stalled),
        cancelling_pools=frozenset(work.cancelling),
        errors=tuple(work.errors),
    )


def _reap_pool(work: _Pass, pool: WorkPool, timeout: timedelta) -> None:
    store, now = work.store, work.now
    active = store.list_active(pool.id)
    owners = Owners(pool, store.list_workers(pool.id), now=now) if _owned(active) else None
    attempts = submit_attempts(pool)
    for run in active:
        if is_stalled(run, now=now, resume_after=work.resume_after):
            work.stalled.add(pool.name)
        if run.state.type is StateType.CANCELLING and run.infrastructure_pid:
            work.cancelling.add(pool.name)
        dead = owners.gone(run) if owners is not None else None
        state = verdict(
            run, now=now, lease=work.lease, start_timeout=timeout, dead_owner=dead,
            attempts=attempts,
        )  # fmt: skip
        if state is None or not _apply(store, run, state):
            continue
        note = ""
        if work.stop is not None and run.infrastructure_pid and state.is_terminal:
            note = work.stop(pool, run.infrastructure_pid)
        work.reaped.append(Reaped(run.id, pool.name, run.attempt, state.type, state.message, note))
    work.repairs.extend(store.repair_counters(pool.id))


def _owned(runs: list[FlowRun]) -> bool:
    return any(run.worker_name for run in runs)


class Owners:
    """The liveness of the workers holding a pool's claims (design §3,
    "Owners and fencing"): a worker is gone once it has been silent past the
    pool's heartbeat timeout, counting its claim's last change as a sign of
    life too (a worker that just claimed is alive, whatever its beat)."""

    def __init__(self, pool: WorkPool, workers: Iterable[Worker], *, now: datetime) -> None:
        self.timeout = heartbeat_timeout(pool)
        self.now = now
        self.beats = {w.name: w.last_heartbeat_time for w in workers}

    def gone(self, run: FlowRun) -> str | None:
        """Why the run's worker counts as gone, or None while it is alive."""
        name = run.worker_name
        if name is None:
            return None
        beat = self.beats.get(name)
        seen = run.updated if beat is None else max(beat, run.updated)
        if self.now - seen <= self.timeout:
            return None
        seconds = int(self.timeout.total_seconds())
        return (
            f"worker {name!r}, which claimed it, sent no heartbeat for more than {seconds} s "
            "(the pool's heartbeat timeout) and is presumed dead"
        )


def _apply(store: Store, run: FlowRun, state: State) -> bool:
    try:
        store.record_state(run, state)
    except (Conflict, NotFound):
        return False  # it moved on its own: a late submit, an event, a cancel
    return True
