"""Claims, state changes and slot counters: the admission-critical writes.

A claim is one ``TransactWriteItems`` of three items: the run (still
SCHEDULED, same version), the pool counter and the queue counter (each
present, not paused, below its limit; ``ADD active 1``).  Any change that
enters or leaves a slot-holding state moves both counters in the same
transaction; every other change is a single conditional put.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from core.errors import Conflict, InvalidInput, NotFound
from core.models import FlowRun
from core.ports import Clock, CounterRepair, SlotCounters
from core.rules.runs import slot_delta, transition
from core.states import SLOT_HOLDING, State, StateType
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_n, get_s, n, names, parse_stamp, s, stamp
from core.store.dynamodb.items import run_from
from core.store.dynamodb.run_writes import CounterGone, RunWrites, run_conflict
from core.store.dynamodb.runs import Runs
from core.store.dynamodb.table import Op, Table

log = logging.getLogger(__name__)

MARK_SUBMITTED_ATTEMPTS = 5


class Slots:
    """Claims, state changes, submissions and the counters they move."""

    def __init__(
        self,
        table: Table,
        writes: RunWrites,
        runs: Runs,
        *,
        clock: Clock,
        settle: timedelta,
    ) -> None:
        self._table = table
        self._writes = writes
        self._runs = runs  # the slot holders a counter repair recounts
        self._clock = clock
        self._settle = settle

    def claim(self, run: FlowRun, *, state: State, lease_expires: datetime) -> FlowRun:
        if state.type is not StateType.PENDING:
            raise InvalidInput(f"a claim moves a run to PENDING, not {state.type}", path="state")
        if run.state_type is not StateType.SCHEDULED:
            raise self._why_not(run)
        new = transition(run, state, lease_expires=lease_expires)
        run_op = self._writes.put_run_op(new, expected=run, require_state=StateType.SCHEDULED.value)
        self._table.transact([run_op, *self._writes.take_ops(run)])
        return new

    def _why_not(self, run: FlowRun) -> Exception:
        """The error for claiming a run the caller already sees as not SCHEDULED."""
        item = self._table.get(schema.key(schema.run_pk(run.id), schema.RUN_SK))
        return run_conflict(run, item)

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        new = transition(run, state)
        delta = slot_delta(run.state_type, state.type)
        run_op = self._writes.put_run_op(new, expected=run)
        if delta > 0:
            self._table.transact([run_op, *self._writes.take_ops(run)])
        elif delta < 0:
            self._release(run_op, run)
        else:
            self._table.conditional("put_item", run_op.on_fail, **run_op.request["Put"])
        return new

    def _release(self, run_op: Op, run: FlowRun) -> None:
        """Write the run and give back its slots; skip a counter that is gone or at 0."""
        skip: set[int] = set()
        while True:
            try:
                self._table.transact([run_op, *self._writes.release_ops(run, skip=frozenset(skip))])
                return
            except CounterGone as gone:
                log.warning(
                    "slot counter %s of run %s was missing or at zero; released without it",
                    "pool" if gone.index == 0 else "queue",
                    run.id,
                )
                skip.add(gone.index)

    def mark_submitted(self, run: FlowRun, *, infrastructure_pid: str, at: datetime) -> FlowRun:
        """Record the infrastructure of the run's current attempt.

        Conditioned on the attempt rather than the version: the
        infrastructure may report RUNNING before the submitter records its
        id.  The usual case is one conditional put of the caller's copy; if
        the run moved on, it is re-read and the check repeated on that.
        """
        current = run
        checked_stored = False
        for _ in range(MARK_SUBMITTED_ATTEMPTS):
            problem = _submit_problem(current, run, infrastructure_pid)
            if problem is not None and not checked_stored:
                current, checked_stored = self._stored(run), True
                continue
            if problem is not None:
                raise problem
            if current.infrastructure_pid == infrastructure_pid:
                return current
            new = current.model_copy(
                update={
                    "infrastructure_pid": infrastructure_pid,
                    "submitted_at": at,
                    "lease_expires": None,
                    "updated": at,
                    "version": current.version + 1,
                }
            )
            op = self._writes.put_run_op(new, expected=current)
            try:
                self._table.conditional("put_item", _Moved, **op.request["Put"])
                return new
            except _Moved as moved:
                if moved.item is None:
                    raise NotFound(f"flow run {run.id!r} not found") from moved
                current, checked_stored = run_from(moved.item), True
        raise Conflict(
            f"flow run {run.id!r} kept changing while its submission was recorded; retry"
        )

    def _stored(self, run: FlowRun) -> FlowRun:
        item = self._table.get(schema.key(schema.run_pk(run.id), schema.RUN_SK))
        if item is None:
            raise NotFound(f"flow run {run.id!r} not found")
        return run_from(item)

    # -- counters -------------------------------------------------------------------

    def _counter_items(self, pool_id: str) -> tuple[Item, list[Item]]:
        """The pool's counter item and its queue items, in one query."""
        items = list(
            self._table.query(
                KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": s(schema.pool_pk(pool_id)),
                    ":low": s(schema.SLOTS_SK),
                    # Every "QUEUE#<id>" sorts below "QUEUE$" ('$' follows '#').
                    ":high": s(schema.QUEUE_PREFIX[:-1] + "$"),
                },
                ConsistentRead=True,
            )
        )
        pool = next((i for i in items if get_s(i, "sk") == schema.SLOTS_SK), None)
        if pool is None:
            raise NotFound(f"work pool with id {pool_id!r} not found")
        queues = [i for i in items if (get_s(i, "sk") or "").startswith(schema.QUEUE_PREFIX)]
        return pool, queues

    def counters(self, pool_id: str) -> SlotCounters:
        pool, queues = self._counter_items(pool_id)
        return SlotCounters(
            pool_active=get_n(pool, "active") or 0,
            queue_active={_queue_id(q): get_n(q, "active") or 0 for q in queues},
        )

    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        """Recount slot holders from the ``active`` index and fix counters that differ.

        Raising a counter is always safe.  Lowering one is done only when it
        has not moved for ``settle`` (an index can lag its table by a
        moment, and a claim it has not yet shown must not lose its slot),
        and only if it still holds the value read, so a concurrent claim or
        release is never overwritten.
        """
        pool_item, queue_items = self._counter_items(pool_id)
        held: dict[str, int] = {}
        for run in self._runs.list_active(pool_id):
            held[run.work_queue_id] = held.get(run.work_queue_id, 0) + 1
        repairs: list[CounterRepair] = []
        for item, queue_id, count in [
            (pool_item, None, sum(held.values())),
            *((q, _queue_id(q), held.get(_queue_id(q), 0)) for q in queue_items),
        ]:
            was = get_n(item, "active") or 0
            if was == count or (count < was and not self._settled(item)):
                continue
            if self._set_counter(item, was=was, now=count):
                repair = CounterRepair(pool_id=pool_id, queue_id=queue_id, was=was, now=count)
                log.warning("repaired slot counter: %s", repair.model_dump_json())
                repairs.append(repair)
        return repairs

    def _settled(self, item: Item) -> bool:
        touched = get_s(item, "touched")
        return touched is None or self._clock() - parse_stamp(touched) >= self._settle

    def _set_counter(self, item: Item, *, was: int, now: int) -> bool:
        update = "SET #active = :now, #touched = :at"
        condition = "attribute_exists(#pk) AND #active = :was"
        values: dict[str, Any] = {":now": n(now), ":was": n(was), ":at": s(stamp(self._clock()))}
        try:
            self._table.conditional(
                "update_item",
                _Moved,
                Key=schema.key(get_s(item, "pk") or "", get_s(item, "sk") or ""),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=names(update, condition),
                ExpressionAttributeValues=values,
            )
        except _Moved:
            return False  # it moved meanwhile: the next pass looks again
        return True


class _Moved(Exception):
    def __init__(self, item: Item | None) -> None:
        super().__init__("moved")
        self.item = item


def _queue_id(item: Item) -> str:
    return (get_s(item, "sk") or "").removeprefix(schema.QUEUE_PREFIX)


def _submit_problem(stored: FlowRun, run: FlowRun, pid: str) -> Exception | None:
    if stored.attempt != run.attempt or stored.state_type not in SLOT_HOLDING:
        return Conflict(
            f"attempt {run.attempt} of flow run {run.id!r} is no longer active (the run is "
            f"{stored.state_type}, attempt {stored.attempt}); the submission is stale"
        )
    if stored.infrastructure_pid not in (None, pid):
        return Conflict(
            f"flow run {run.id!r} attempt {run.attempt} was already submitted as "
            f"{stored.infrastructure_pid!r}"
        )
    return None
