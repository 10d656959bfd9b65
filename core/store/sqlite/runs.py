"""Flow runs and slot counters in SQLite: the admission-critical writes.

Each function runs inside a ``BEGIN IMMEDIATE`` transaction opened by
:class:`core.store.sqlite.store.SqliteStore`, so "check the run, check the limits,
move the counters, write the run" happens under one write lock across every
thread and process using the file.  The counters live on the pool and queue
rows (``active``) and only ever change in the same transaction as the run
whose slot-holding changed; :func:`repair_counters` recounts them anyway.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from core.errors import CapacityFull, Conflict, InvalidInput, NotFound
from core.models import FlowRun
from core.ports import CounterRepair, SlotCounters
from core.rules.runs import slot_delta, transition
from core.states import SLOT_HOLDING, State, StateType
from core.store.sqlite.db import from_ts, ts

_HOLDING = tuple(sorted(t.value for t in SLOT_HOLDING))
_HOLDING_SQL = ", ".join("?" for _ in _HOLDING)


def load(row: sqlite3.Row | tuple[str] | None, run_id: str) -> FlowRun:
    if row is None:
        raise NotFound(f"flow run {run_id!r} not found")
    return FlowRun.model_validate_json(row[0])


def get(tx: sqlite3.Connection, run_id: str) -> FlowRun:
    return load(tx.execute("SELECT body FROM runs WHERE id = ?", (run_id,)).fetchone(), run_id)


def _columns(run: FlowRun) -> tuple[str, str, str | None, str, str, int, str]:
    return (
        run.work_pool_id,
        run.work_queue_id,
        run.deployment_id,
        run.state_type.value,
        ts(run.next_scheduled_start_time),
        run.version,
        run.model_dump_json(),
    )


def insert(tx: sqlite3.Connection, run: FlowRun) -> bool:
    if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run.id,)).fetchone():
        return False
    if run.state_type in SLOT_HOLDING:
        take_slots(tx, run)
    tx.execute(
        "INSERT INTO runs (pool_id, queue_id, deployment_id, state_type,"
        " next_scheduled_start_time, version, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (*_columns(run), run.id),
    )
    return True


def _replace(tx: sqlite3.Connection, run: FlowRun) -> FlowRun:
    tx.execute(
        "UPDATE runs SET pool_id = ?, queue_id = ?, deployment_id = ?, state_type = ?,"
        " next_scheduled_start_time = ?, version = ?, body = ? WHERE id = ?",
        (*_columns(run), run.id),
    )
    return run


def _check_version(tx: sqlite3.Connection, run: FlowRun) -> None:
    row = tx.execute("SELECT version FROM runs WHERE id = ?", (run.id,)).fetchone()
    if row is None:
        raise NotFound(f"flow run {run.id!r} not found")
    if row[0] != run.version:
        raise Conflict(
            f"flow run {run.id!r} changed since it was read (version {run.version}, "
            f"stored {row[0]}); read it again and retry"
        )


def take_slots(tx: sqlite3.Connection, run: FlowRun) -> None:
    """Take one slot of the run's pool and queue, or raise ``CapacityFull``."""
    pool = tx.execute(
        "SELECT name, is_paused, concurrency_limit, active FROM pools WHERE id = ?",
        (run.work_pool_id,),
    ).fetchone()
    if pool is None:
        raise NotFound(f"work pool {run.work_pool_name!r} of flow run {run.id!r} not found")
    queue = tx.execute(
        "SELECT name, is_paused, concurrency_limit, active FROM queues WHERE id = ?",
        (run.work_queue_id,),
    ).fetchone()
    if queue is None:
        raise NotFound(f"work queue {run.work_queue_name!r} of flow run {run.id!r} not found")
    for kind, (name, paused, _limit, _active) in (("pool", pool), ("queue", queue)):
        if paused:
            raise CapacityFull(f"work {kind} {name!r} is paused", scope="paused")
    for kind, (name, _paused, limit, active) in (("pool", pool), ("queue", queue)):
        if limit is not None and active >= limit:
            raise CapacityFull(
                f"work {kind} {name!r} is at its concurrency limit ({active} of {limit} "
                "slots in use); the run waits until a slot is released",
                scope=kind,
            )
    tx.execute("UPDATE pools SET active = active + 1 WHERE id = ?", (run.work_pool_id,))
    tx.execute("UPDATE queues SET active = active + 1 WHERE id = ?", (run.work_queue_id,))


def release_slots(tx: sqlite3.Connection, run: FlowRun) -> None:
    """Give back the run's pool and queue slot (never below zero: a negative
    counter would let a limit be exceeded; the reaper repairs any drift)."""
    tx.execute("UPDATE pools SET active = MAX(active - 1, 0) WHERE id = ?", (run.work_pool_id,))
    tx.execute("UPDATE queues SET active = MAX(active - 1, 0) WHERE id = ?", (run.work_queue_id,))


def claim(
    tx: sqlite3.Connection, run: FlowRun, *, state: State, lease_expires: datetime
) -> FlowRun:
    if state.type is not StateType.PENDING:
        raise InvalidInput(f"a claim moves a run to PENDING, not {state.type}", path="state")
    _check_version(tx, run)
    if run.state_type is not StateType.SCHEDULED:
        raise Conflict(f"flow run {run.id!r} is {run.state_type}, no longer SCHEDULED")
    take_slots(tx, run)
    return _replace(tx, transition(run, state, lease_expires=lease_expires))


def record_state(tx: sqlite3.Connection, run: FlowRun, state: State) -> FlowRun:
    _check_version(tx, run)
    delta = slot_delta(run.state_type, state.type)
    if delta > 0:
        take_slots(tx, run)
    elif delta < 0:
        release_slots(tx, run)
    return _replace(tx, transition(run, state))


def mark_submitted(
    tx: sqlite3.Connection, run: FlowRun, *, infrastructure_pid: str, at: datetime
) -> FlowRun:
    """Record the infrastructure of the run's current attempt.

    Conditioned on the attempt, not the version: the infrastructure may
    report RUNNING (or a cancel may arrive) before the submitter records the
    id, and the id is still needed then.  A run that went back to SCHEDULED
    has a new attempt, so a late report for the old one is rejected.
    """
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
    return _replace(tx, stored.model_copy(update=update))


def select(
    tx: sqlite3.Connection, where: list[str], args: list[object], order: str
) -> list[FlowRun]:
    clause = " AND ".join(where) or "1"
    rows = tx.execute(f"SELECT body FROM runs WHERE {clause} ORDER BY {order}", args).fetchall()
    return [FlowRun.model_validate_json(row[0]) for row in rows]


def list_runs(
    tx: sqlite3.Connection,
    *,
    pool_id: str | None,
    queue_ids: Sequence[str] | None,
    deployment_id: str | None,
    state_types: Sequence[StateType] | None,
    limit: int,
) -> list[FlowRun]:
    where: list[str] = []
    args: list[object] = []
    for column, value in (("pool_id", pool_id), ("deployment_id", deployment_id)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    for column, values in (
        ("queue_id", queue_ids),
        ("state_type", None if state_types is None else [t.value for t in state_types]),
    ):
        if values is not None:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            args.extend(values)
    args.append(limit)
    return select(tx, where, args, "next_scheduled_start_time DESC, id DESC LIMIT ?")


def list_due(
    tx: sqlite3.Connection,
    pool_id: str,
    before: datetime,
    *,
    queue_id: str | None = None,
    limit: int | None = None,
) -> list[FlowRun]:
    where = ["pool_id = ?", "state_type = ?", "next_scheduled_start_time <= ?"]
    args: list[object] = [pool_id, StateType.SCHEDULED.value, ts(before)]
    if queue_id is not None:
        where.append("queue_id = ?")
        args.append(queue_id)
    order = "next_scheduled_start_time, id"
    if limit is not None:
        order += " LIMIT ?"
        args.append(max(limit, 0))
    return select(tx, where, args, order)


def has_due(tx: sqlite3.Connection, pool_id: str, before: datetime) -> bool:
    row = tx.execute(
        "SELECT 1 FROM runs WHERE pool_id = ? AND state_type = ?"
        " AND next_scheduled_start_time <= ? LIMIT 1",
        (pool_id, StateType.SCHEDULED.value, ts(before)),
    ).fetchone()
    return row is not None


def due_pools(tx: sqlite3.Connection, before: datetime) -> dict[str, datetime]:
    rows = tx.execute(
        "SELECT pool_id, MIN(next_scheduled_start_time) FROM runs"
        " WHERE state_type = ? AND next_scheduled_start_time <= ? GROUP BY pool_id",
        (StateType.SCHEDULED.value, ts(before)),
    ).fetchall()
    return {pool_id: from_ts(earliest) for pool_id, earliest in rows}


def list_active(tx: sqlite3.Connection, pool_id: str | None) -> list[FlowRun]:
    where = [f"state_type IN ({_HOLDING_SQL})"]
    args: list[object] = list(_HOLDING)
    if pool_id is not None:
        where.append("pool_id = ?")
        args.append(pool_id)
    return select(tx, where, args, "next_scheduled_start_time, id")


def counters(tx: sqlite3.Connection, pool_id: str) -> SlotCounters:
    row = tx.execute("SELECT active FROM pools WHERE id = ?", (pool_id,)).fetchone()
    if row is None:
        raise NotFound(f"work pool with id {pool_id!r} not found")
    queues = tx.execute("SELECT id, active FROM queues WHERE pool_id = ?", (pool_id,)).fetchall()
    return SlotCounters(pool_active=row[0], queue_active=dict(queues))


def repair_counters(tx: sqlite3.Connection, pool_id: str) -> list[CounterRepair]:
    """Recount slot-holding runs and correct every counter that disagrees."""
    stored = counters(tx, pool_id)
    counted = dict(
        tx.execute(
            f"SELECT queue_id, COUNT(*) FROM runs WHERE pool_id = ?"
            f" AND state_type IN ({_HOLDING_SQL}) GROUP BY queue_id",
            (pool_id, *_HOLDING),
        ).fetchall()
    )
    repairs: list[CounterRepair] = []
    pool_count = sum(counted.values())
    if stored.pool_active != pool_count:
        tx.execute("UPDATE pools SET active = ? WHERE id = ?", (pool_count, pool_id))
        repairs.append(
            CounterRepair(pool_id=pool_id, queue_id=None, was=stored.pool_active, now=pool_count)
        )
    for queue_id, was in sorted(stored.queue_active.items()):
        now = counted.get(queue_id, 0)
        if was != now:
            tx.execute("UPDATE queues SET active = ? WHERE id = ?", (now, queue_id))
            repairs.append(CounterRepair(pool_id=pool_id, queue_id=queue_id, was=was, now=now))
    return repairs
