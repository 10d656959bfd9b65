"""Reading flow runs in SQLite (by id, by filter, due, slot-holding) and
creating them.  Every read is one transaction: one consistent snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from core.models import FlowRun
from core.states import SLOT_HOLDING, StateType
from core.store.sqlite.db import Database, from_ts, ts
from core.store.sqlite.run_writes import HOLDING, HOLDING_SQL, columns, get, take_slots


class Runs:
    """Flow runs by id, by filter, due (per pool and queue) and slot-holding."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create_run(self, run: FlowRun) -> bool:
        with self._db.write() as tx:
            if tx.execute("SELECT 1 FROM runs WHERE id = ?", (run.id,)).fetchone():
                return False
            if run.state_type in SLOT_HOLDING:
                take_slots(tx, run)
            tx.execute(
                "INSERT INTO runs (pool_id, queue_id, deployment_id, state_type,"
                " next_scheduled_start_time, version, body, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (*columns(run), run.id),
            )
            return True

    def get_run(self, run_id: str) -> FlowRun:
        with self._db.read() as tx:
            return get(tx, run_id)

    def list_runs(
        self,
        *,
        pool_id: str | None = None,
        queue_ids: Sequence[str] | None = None,
        deployment_id: str | None = None,
        state_types: Sequence[StateType] | None = None,
        limit: int = 200,
    ) -> list[FlowRun]:
        with self._db.read() as tx:
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
            return _select(tx, where, args, "next_scheduled_start_time DESC, id DESC LIMIT ?")

    def list_due(
        self,
        pool_id: str,
        before: datetime,
        *,
        queue_id: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        with self._db.read() as tx:
            where = ["pool_id = ?", "state_type = ?", "next_scheduled_start_time <= ?"]
            args: list[object] = [pool_id, StateType.SCHEDULED.value, ts(before)]
            if queue_id is not None:
                where.append("queue_id = ?")
                args.append(queue_id)
            order = "next_scheduled_start_time, id"
            if limit is not None:
                order += " LIMIT ?"
                args.append(max(limit, 0))
            return _select(tx, where, args, order)

    def has_due(self, pool_id: str, before: datetime) -> bool:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT 1 FROM runs WHERE pool_id = ? AND state_type = ?"
                " AND next_scheduled_start_time <= ? LIMIT 1",
                (pool_id, StateType.SCHEDULED.value, ts(before)),
            ).fetchone()
            return row is not None

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        with self._db.read() as tx:
            rows = tx.execute(
                "SELECT pool_id, MIN(next_scheduled_start_time) FROM runs"
                " WHERE state_type = ? AND next_scheduled_start_time <= ? GROUP BY pool_id",
                (StateType.SCHEDULED.value, ts(before)),
            ).fetchall()
            return {pool_id: from_ts(earliest) for pool_id, earliest in rows}

    def list_active(self, pool_id: str | None = None) -> list[FlowRun]:
        with self._db.read() as tx:
            where = [f"state_type IN ({HOLDING_SQL})"]
            args: list[object] = list(HOLDING)
            if pool_id is not None:
                where.append("pool_id = ?")
                args.append(pool_id)
            return _select(tx, where, args, "next_scheduled_start_time, id")


def _select(
    tx: sqlite3.Connection, where: list[str], args: list[object], order: str
) -> list[FlowRun]:
    clause = " AND ".join(where) or "1"
    rows = tx.execute(f"SELECT body FROM runs WHERE {clause} ORDER BY {order}", args).fetchall()
    return [FlowRun.model_validate_json(row[0]) for row in rows]
