"""Claims, state changes and slot counters: the admission-critical writes.

A claim is one ``TransactWriteItems`` of two items: the run (still
SCHEDULED, same version) and the pool's counter item, which holds the pool
counter and every queue counter (both present, not paused, below their
limits; ``ADD`` 1 to each).  Any change that enters or leaves a slot-holding
state moves both counters in the same transaction; every other change is a
single conditional put.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.errors import Conflict, InvalidInput, NotFound
from core.models import FlowRun, WorkQueue
from core.ports import Clock, CounterRepair, SlotCounters
from core.rules.runs import slot_delta, transition
from core.states import SLOT_HOLDING, State, StateType
from core.store.dynamodb import counters, schema, upgrade
from core.store.dynamodb.codec import Item, get_n, get_s, s
from core.store.dynamodb.items import queue_from, run_from
from core.store.dynamodb.ops import must_exist
from core.store.dynamodb.run_writes import RunWrites, run_conflict
from core.store.dynamodb.runs import Runs
from core.store.dynamodb.table import Op, Table

log = logging.getLogger(__name__)

MARK_SUBMITTED_ATTEMPTS = 5
RELEASE_ATTEMPTS = 5  # pool and queue counters skipped, plus a migration


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
        self._take(run_op, run)
        return new

    def _take(self, run_op: Op, run: FlowRun) -> None:
        """Write the run and take its slots; a queue still on the old layout
        is migrated first (once) rather than refused."""
        try:
            self._table.transact([run_op, self._writes.take_op(run)])
        except counters.QueueCounterMissing:
            if not self._migrated(run):
                raise
            self._table.transact([run_op, self._writes.take_op(run)])

    def _migrated(self, run: FlowRun) -> bool:
        """Whether a retry may now find the counter of the run's queue: the
        queue exists, and was on the old layout (moved here, or by a
        concurrent caller between our write and this read)."""
        queue_key = schema.key(schema.pool_pk(run.work_pool_id), schema.queue_sk(run.work_queue_id))
        item = self._table.get(queue_key)
        if item is None:
            return False  # deleted: NotFound is the answer
        if upgrade.is_old_layout(item):
            upgrade.migrate_pool(self._table, run.work_pool_id)  # a pool moves as a whole
        return True

    def _why_not(self, run: FlowRun) -> Exception:
        """The error for claiming a run the caller already sees as not SCHEDULED."""
        item = self._table.get(schema.key(schema.run_pk(run.id), schema.RUN_SK))
        return run_conflict(run, item)

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        new = transition(run, state)
        delta = slot_delta(run.state_type, state.type)
        run_op = self._writes.put_run_op(new, expected=run)
        if delta > 0:
            self._take(run_op, run)
        elif delta < 0:
            self._release(run_op, run)
        else:
            self._table.conditional("put_item", run_op.on_fail, **run_op.request["Put"])
        return new

    def _release(self, run_op: Op, run: FlowRun) -> None:
        """Write the run and give back its slots; skip a counter that is gone or at 0."""
        pool = queue = True
        may_migrate = True
        for _ in range(RELEASE_ATTEMPTS):
            op = self._writes.release_op(run, pool=pool, queue=queue)
            try:
                if op is None:
                    self._table.conditional("put_item", run_op.on_fail, **run_op.request["Put"])
                else:
                    self._table.transact([run_op, op])
                return
            except counters.CounterGone as gone:
                stored = gone.item
                queue_entry = counters.attr(counters.ACTIVE, run.work_queue_id)
                if may_migrate and stored is not None and queue_entry not in stored:
                    may_migrate = False  # deleted, or still on the old layout?
                    if self._migrated(run):
                        continue
                can_pool, can_queue = counters.releasable(run, gone.item)
                for kind, wanted, can in (("pool", pool, can_pool), ("queue", queue, can_queue)):
                    if wanted and not can:
                        log.warning(
                            "slot counter of work %s of run %s was missing or at zero; "
                            "released without it",
                            kind,
                            run.id,
                        )
                pool, queue = pool and can_pool, queue and can_queue
        raise Conflict(f"the slot counters of flow run {run.id!r} kept changing; retry")

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

    def _counter_item(self, pool_id: str) -> Item:
        item = self._table.get(counters.counter_key(pool_id))
        if item is None:
            raise NotFound(f"work pool with id {pool_id!r} not found")
        return item

    def _counter_and_queue_items(self, pool_id: str) -> tuple[Item, list[Item]]:
        """The pool's counter item and its queue items, in one query (the
        reaper's pass: it looks for queues still on the old layout too)."""
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
        item = next((i for i in items if get_s(i, "sk") == schema.SLOTS_SK), None)
        if item is None:
            raise NotFound(f"work pool with id {pool_id!r} not found")
        queues = [i for i in items if (get_s(i, "sk") or "").startswith(schema.QUEUE_PREFIX)]
        return item, queues

    def counters(self, pool_id: str) -> SlotCounters:
        """One strongly consistent read of the pool's counter item."""
        item = self._counter_item(pool_id)
        queues = counters.queue_counters(item)
        if not queues and upgrade.migrate_pool(self._table, pool_id):
            # Every pool has a queue: none here means a table from before
            # the queue counters moved (issue 16); upgraded on first read.
            item = self._counter_item(pool_id)
            queues = counters.queue_counters(item)
        return SlotCounters(pool_active=get_n(item, "active") or 0, queue_active=queues)

    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        """Recount slot holders from the ``active`` index and fix counters that differ.

        Raising a counter is always safe.  Lowering one is done only when it
        has not moved for ``settle`` (an index can lag its table by a
        moment, and a claim it has not yet shown must not lose its slot),
        and only if it still holds the value read, so a concurrent claim or
        release is never overwritten.  Queues still on the old layout are
        migrated first, so the reaper's tick upgrades a table by itself.
        """
        item, queue_items = self._counter_and_queue_items(pool_id)
        if upgrade.migrate_pool(self._table, pool_id, queue_items):
            item = self._counter_item(pool_id)
        held: dict[str, int] = {}
        for run in self._runs.list_active(pool_id):
            held[run.work_queue_id] = held.get(run.work_queue_id, 0) + 1
        queues = counters.queue_counters(item)
        restored = [
            self._restore(queue_from(q), held.get(_queue_id(q), 0))
            for q in queue_items
            if _queue_id(q) not in queues and not upgrade.is_old_layout(q)
        ]
        repairs = [r for r in restored if r is not None]
        for queue_id, was, count in [
            (None, get_n(item, "active") or 0, sum(held.values())),
            *((q, was, held.get(q, 0)) for q, was in queues.items()),
        ]:
            if was == count or (count < was and not self._settled(item, queue_id)):
                continue
            if self._set_counter(pool_id, queue_id, was=was, now=count):
                repair = CounterRepair(pool_id=pool_id, queue_id=queue_id, was=was, now=count)
                log.warning("repaired slot counter: %s", repair.model_dump_json())
                repairs.append(repair)
        return repairs

    def _restore(self, queue: WorkQueue, count: int) -> CounterRepair | None:
        """Give an existing queue whose entry is missing from the counter item
        (edited by hand) its entry back, holding ``count`` slots; only while
        the queue still exists and still has no entry."""
        exists = must_exist(
            schema.key(schema.pool_pk(queue.pool_id), schema.queue_sk(queue.id)), _Moved(None)
        )
        try:
            self._table.transact([exists, counters.restore_queue_op(queue, count, self._clock())])
        except (_Moved, NotFound):
            return None  # the queue went, or got its entry meanwhile
        repair = CounterRepair(pool_id=queue.pool_id, queue_id=queue.id, was=0, now=count)
        log.warning("restored a missing slot counter: %s", repair.model_dump_json())
        return repair

    def _settled(self, item: Item, queue_id: str | None) -> bool:
        touched = counters.touched(item, queue_id)
        return touched is None or self._clock() - touched >= self._settle

    def _set_counter(self, pool_id: str, queue_id: str | None, *, was: int, now: int) -> bool:
        request = counters.set_counter_request(
            pool_id, queue_id, was=was, now=now, at=self._clock()
        )
        try:
            self._table.conditional("update_item", _Moved, **request)
        except _Moved:
            return False  # it moved meanwhile: the next pass looks again
        return True


class _Moved(Exception):
    def __init__(self, item: Item | None) -> None:
        super().__init__("moved")
        self.item = item


def _queue_id(queue_item: Item) -> str:
    return (get_s(queue_item, "sk") or "").removeprefix(schema.QUEUE_PREFIX)


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
