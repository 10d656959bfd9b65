"""The reaper: nothing holds a slot forever (design §3, "Leases and the reaper").

A dispatcher or worker can die between any two steps, and infrastructure
can fail without a word.  Each pass looks at every slot-holding run:

* claimed, never submitted, lease over: back to SCHEDULED as a new attempt
  (``core.runs.transition`` bumps ``attempt``, so the next submission uses
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
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import Conflict, NotFound
from core.models import FlowRun, WorkPool
from core.ports import Clock, CounterRepair, Store
from core.services.admission import DEFAULT_LEASE, DEFAULT_RESUME_AFTER, is_stalled
from core.states import State, StateType, new_state

DEFAULT_START_TIMEOUT = timedelta(minutes=10)

# Variables in Prefect's (and our) default templates that already say how
# long a provider waits for infrastructure to start.
START_TIMEOUT_VARIABLES = (
    "start_timeout_seconds",
    "task_start_timeout_seconds",
    "pod_watch_timeout_seconds",
)

StartTimeout = Callable[[WorkPool], timedelta]
Stop = Callable[[WorkPool, str], str]
"""Stops the infrastructure with this id; returns a note for the report."""


def start_timeout(pool: WorkPool) -> timedelta:
    """The pool's start timeout: the default of the first start-timeout
    variable its template declares, else ten minutes."""
    variables = pool.base_job_template.get("variables")
    properties = variables.get("properties", {}) if isinstance(variables, dict) else {}
    for name in START_TIMEOUT_VARIABLES:
        spec = properties.get(name)
        default = spec.get("default") if isinstance(spec, dict) else None
        if isinstance(default, int | float) and not isinstance(default, bool) and default > 0:
            return timedelta(seconds=default)
    return DEFAULT_START_TIMEOUT


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

    @property
    def released_pools(self) -> frozenset[str]:
        """Pools where a slot was freed or a run came back: worth a dispatch."""
        return frozenset(r.pool_name for r in self.reaped)


def verdict(
    run: FlowRun, *, now: datetime, lease: timedelta, start_timeout: timedelta
) -> State | None:
    """What the reaper does to one slot-holding run, or None to leave it."""
    kind = run.state.type
    if run.infrastructure_pid is None and kind in (StateType.PENDING, StateType.CANCELLING):
        expires = run.lease_expires or run.state.timestamp + lease
        if now < expires:
            return None
        if kind is StateType.CANCELLING:
            return new_state(
                StateType.CANCELLED, at=now, message="Cancelled before any infrastructure started"
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
    """One pass over ``pools`` (default: all): expire leases, crash runs that
    never started, then repair the pools' slot counters."""
    now = clock()
    reaped: list[Reaped] = []
    repairs: list[CounterRepair] = []
    stalled: set[str] = set()
    cancelling: set[str] = set()
    for pool in store.list_pools() if pools is None else pools:
        timeout = start_timeout_for(pool)
        for run in store.list_active(pool.id):
            if is_stalled(run, now=now, resume_after=resume_after):
                stalled.add(pool.name)
            if run.state.type is StateType.CANCELLING and run.infrastructure_pid:
                cancelling.add(pool.name)
            state = verdict(run, now=now, lease=lease, start_timeout=timeout)
            if state is None or not _apply(store, run, state):
                continue
            note = ""
            if stop is not None and run.infrastructure_pid and state.is_terminal:
                note = stop(pool, run.infrastructure_pid)
            reaped.append(Reaped(run.id, pool.name, run.attempt, state.type, state.message, note))
        try:
            repairs.extend(store.repair_counters(pool.id))
        except NotFound:
            continue  # deleted during the pass
    return ReapReport(
        reaped=tuple(reaped),
        repairs=tuple(repairs),
        stalled_pools=frozenset(stalled),
        cancelling_pools=frozenset(cancelling),
    )


def _apply(store: Store, run: FlowRun, state: State) -> bool:
    try:
        store.record_state(run, state)
    except (Conflict, NotFound):
        return False  # it moved on its own: a late submit, an event, a cancel
    return True
