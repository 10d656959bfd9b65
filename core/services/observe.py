"""Applying what infrastructure reports to runs: events and polls.

Events (ECS task state changes) and polls (providers that emit none) both
end here, so both obey ``core.rules.infra.next_state``: duplicates, stale
attempts and out-of-order reports change nothing.  When a report ends a
run, the store releases its slots in the same write; the caller learns
which pools freed a slot so it can trigger a dispatch at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.errors import Conflict, InfrastructureError, NotFound
from core.models import FlowRun
from core.ports import Clock, InfraStatus, Provider, Store
from core.rules.infra import next_state
from core.states import SLOT_HOLDING, StateType

CONFLICT_RETRIES = 3
DEFAULT_POLL_BATCH = 50


@dataclass(frozen=True)
class Observed:
    run_id: str
    pool_name: str
    was: StateType
    now: StateType
    message: str
    pool_id: str = ""

    @property
    def released_slot(self) -> bool:
        return self.was in SLOT_HOLDING and self.now not in SLOT_HOLDING


def slot_awaited(store: Store, pool_id: str, now: datetime) -> bool:
    """Whether a slot just released in ``pool_id`` has a run waiting for it.

    A released slot only matters to a run already due: a run due later has
    its own delayed dispatch request and the tick, and a new run asks for a
    pass when it is created.  So a release asks for a dispatch pass (a
    Lambda invocation, an SQS message and a pass's reads) only when this
    short read finds one.  If the read fails, the pass is asked for: the
    release is already written, and an extra pass costs less than a run
    left waiting for the next tick.
    """
    try:
        return store.has_due(pool_id, now)
    except Exception:  # any store error: fall back to always dispatching
        return True


def apply_status(
    store: Store,
    *,
    run_id: str,
    infra_id: str,
    status: InfraStatus,
    clock: Clock,
    attempt: int | None = None,
) -> Observed | None:
    """Move ``run_id`` as ``status`` about ``infra_id`` says, if it says anything new.

    ``attempt``, when the report carries it (a tag, a label), lets an event
    that overtakes the submitter's ``mark_submitted`` record the id itself
    instead of being dropped.  Returns what changed, or None.
    """
    for _ in range(CONFLICT_RETRIES):
        try:
            run = store.get_run(run_id)
            if attempt == run.attempt and run.infrastructure_pid is None:
                run = store.mark_submitted(run, infrastructure_pid=infra_id, at=clock())
            state = next_state(run, status, now=clock(), infra_id=infra_id)
            if state is None:
                return None
            store.record_state(run, state)
        except NotFound:
            return None
        except Conflict:
            continue  # it moved while we looked: read again and re-decide
        return Observed(
            run.id, run.work_pool_name, run.state.type, state.type, state.message, run.work_pool_id
        )
    return None


@dataclass(frozen=True)
class PollReport:
    checked: int = 0
    changed: tuple[Observed, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def released_pools(self) -> frozenset[str]:
        return frozenset(o.pool_name for o in self.changed if o.released_slot)


def poll_runs(
    store: Store,
    runs: Sequence[FlowRun],
    provider: Provider,
    *,
    clock: Clock,
    limit: int = DEFAULT_POLL_BATCH,
) -> PollReport:
    """Ask ``provider`` about up to ``limit`` of ``runs`` and apply the answers.

    Successive calls rotate through the runs, so a pool with more submitted
    runs than one batch still has every run checked within a few ticks.
    """
    now = clock()
    changed: list[Observed] = []
    errors: list[str] = []
    batch = rotation([r for r in runs if r.infrastructure_pid], now=now, limit=limit)
    for run in batch:
        assert run.infrastructure_pid is not None
        try:
            status = provider.status(run.infrastructure_pid)
        except InfrastructureError as exc:
            errors.append(f"{run.id}: {exc.detail}")
            continue
        if next_state(run, status, now=now, infra_id=run.infrastructure_pid) is None:
            continue  # nothing new: skip the re-read
        observed = apply_status(
            store, run_id=run.id, infra_id=run.infrastructure_pid, status=status, clock=clock
        )
        if observed is not None:
            changed.append(observed)
    return PollReport(checked=len(batch), changed=tuple(changed), errors=tuple(errors))


def rotation(runs: Sequence[FlowRun], *, now: datetime, limit: int) -> list[FlowRun]:
    """A window of ``limit`` runs (by id) that moves on every minute."""
    ordered = sorted(runs, key=lambda r: r.id)
    if len(ordered) <= limit:
        return ordered
    start = (int(now.timestamp()) // 60 * limit) % len(ordered)
    return (ordered[start:] + ordered[:start])[:limit]
