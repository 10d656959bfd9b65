"""Claims, state changes and slot counters in SQLite: the admission-critical writes.

Each method is one ``BEGIN IMMEDIATE`` transaction, so a claim checks the
run's version and state, both pause flags and limits, and moves both
counters under one write lock.  :meth:`Slots.repair_counters` recounts the
counters from the runs anyway.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from core.errors import Conflict, InvalidInput, NotFound
from core.models import FlowRun
from core.ports import CounterRepair, SlotCounters
from core.rules.runs import slot_delta, transition
from core.states import SLOT_HOLDING, State, StateType
from core.store.sqlite.db import Database
from core.store.sqlite.run_writes import (
    HOLDING,
    HOLDING_SQL,
    check_version,
    get,
    release_slots,
    replace,
    take_slots,
)


class Slots:
    """Claims, state changes, submissions and the counters they move."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, run: FlowRun, *, state: State, lease_expires: datetime) -> FlowRun:
        with self._db.write() as tx:
            if state.type is not StateType.PENDING:
                raise InvalidInput(
                    f"a claim moves a run to PENDING, not {state.type}", path="state"
                )
            check_version(tx, run)
            if run.state_type is not StateType.SCHEDULED:
                raise Conflict(f"flow run {run.id!r} is {run.state_type}, no longer SCHEDULED")
            take_slots(tx, run)
            return replace(tx, transition(run, state, lease_expires=lease_expires))

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        with self._db.write() as tx:
            check_version(tx, run)
            delta = slot_delta(run.state_type, state.type)
            if delta > 0:
                take_slots(tx, run)
            elif delta < 0:
                release_slots(tx, run)
            return replace(tx, transition(run, state))

    def mark_submitted(self, run: FlowRun, *, infrastructure_pid: str, at: datetime) -> FlowRun:
        """Record the infrastructure of the run's current attempt.

        Conditioned on the attempt, not the version: the infrastructure may
        report RUNNING (or a cancel may arrive) before the submitter records the
        id, and the id is still needed then.  A run that went back to SCHEDULED
        has a new attempt, so a late report for the old one is rejected.
        """
        with self._db.write() as tx:
            stored = get(tx, run.id)
            if stored.attempt != run.attempt or stored.state_type not in SLOT_HOLDING:
                raise Conflict(
                    f"attempt {run.attempt} of flow run {run.id!r} is no longer active (the run is "
                    f"{stored.state_type}, attempt {stored.attempt}); the submission is stale"
                )
            if stored.infrastructure_pid == infrastructure_pid:
                return stored
            if stored.infrastructure_pid is not None:
                raise Conflict(
                    f"flow run {run.id!r} attempt {run.attempt} was already submitted as "
                    f"{stored.infrastructure_pid!r}"
                )
            update = {
                "infrastructure_pid": infrastructure_pid,
                "submitted_at": at,
                "lease_expires": None,
                "updated": at,
                "version": stored.version + 1,
            }
            return replace(tx, stored.model_copy(update=update))

    def counters(self, pool_id: str) -> SlotCounters:
        with self._db.read() as tx:
            return _counters(tx, pool_id)

    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        """Recount slot-holding runs and correct every counter that disagrees."""
        with self._db.write() as tx:
            stored = _counters(tx, pool_id)
            counted = dict(
                tx.execute(
                    f"SELECT queue_id, COUNT(*) FROM runs WHERE pool_id = ?"
                    f" AND state_type IN ({HOLDING_SQL}) GROUP BY queue_id",
                    (pool_id, *HOLDING),
                ).fetchall()
            )
            repairs: list[CounterRepair] = []
            pool_count = sum(counted.values())
            if stored.pool_active != pool_count:
                tx.execute("UPDATE pools SET active = ? WHERE id = ?", (pool_count, pool_id))
                repairs.append(
                    CounterRepair(
                        pool_id=pool_id, queue_id=None, was=stored.pool_active, now=pool_count
                    )
                )
            for queue_id, was in sorted(stored.queue_active.items()):
                now = counted.get(queue_id, 0)
                if was != now:
                    tx.execute("UPDATE queues SET active = ? WHERE id = ?", (now, queue_id))
                    repairs.append(
                        CounterRepair(pool_id=pool_id, queue_id=queue_id, was=was, now=now)
                    )
            return repairs


def _counters(tx: sqlite3.Connection, pool_id: str) -> SlotCounters:
    row = tx.execute("SELECT active FROM pools WHERE id = ?", (pool_id,)).fetchone()
    if row is None:
        raise NotFound(f"work pool with id {pool_id!r} not found")
    queues = tx.execute("SELECT id, active FROM queues WHERE pool_id = ?", (pool_id,)).fetchall()
    return SlotCounters(pool_active=row[0], queue_active=dict(queues))
