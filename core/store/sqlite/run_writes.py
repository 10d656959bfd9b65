"""Writing a run row and moving its slot counters in SQLite, shared by
``runs`` (creating a run that starts holding slots) and ``slots`` (claims and
state changes).

Each function runs inside the caller's ``BEGIN IMMEDIATE`` transaction, so
"check the run, check the limits, move the counters, write the run" happens
under one write lock across every thread and process using the file.  The
counters live on the pool and queue rows (``active``) and only ever change
in the same transaction as the run whose slot-holding changed.
"""

from __future__ import annotations

import sqlite3

from core.errors import CapacityFull, Conflict, NotFound
from core.models import FlowRun
from core.states import SLOT_HOLDING
from core.store.sqlite.db import ts

HOLDING = tuple(sorted(t.value for t in SLOT_HOLDING))
HOLDING_SQL = ", ".join("?" for _ in HOLDING)


def _load(row: sqlite3.Row | tuple[str] | None, run_id: str) -> FlowRun:
    if row is None:
        raise NotFound(f"flow run {run_id!r} not found")
    return FlowRun.model_validate_json(row[0])


def get(tx: sqlite3.Connection, run_id: str) -> FlowRun:
    return _load(tx.execute("SELECT body FROM runs WHERE id = ?", (run_id,)).fetchone(), run_id)


def columns(run: FlowRun) -> tuple[str, str, str | None, str, str, int, str]:
    return (
        run.work_pool_id,
        run.work_queue_id,
        run.deployment_id,
        run.state_type.value,
        ts(run.next_scheduled_start_time),
        run.version,
        run.model_dump_json(),
    )


def replace(tx: sqlite3.Connection, run: FlowRun) -> FlowRun:
    tx.execute(
        "UPDATE runs SET pool_id = ?, queue_id = ?, deployment_id = ?, state_type = ?,"
        " next_scheduled_start_time = ?, version = ?, body = ? WHERE id = ?",
        (*columns(run), run.id),
    )
    return run


def check_version(tx: sqlite3.Connection, run: FlowRun) -> None:
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
