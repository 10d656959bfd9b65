"""Workers in SQLite: one row per (pool, name), rewritten by each heartbeat."""

from __future__ import annotations

from datetime import datetime

from core.errors import NotFound
from core.models import Worker
from core.store.sqlite.db import Database


class Workers:
    """The workers of each pool, as their heartbeats describe them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker:
        with self._db.write() as tx:
            if not tx.execute("SELECT 1 FROM pools WHERE id = ?", (pool_id,)).fetchone():
                raise NotFound(f"work pool with id {pool_id!r} not found")
            sql = "SELECT body FROM workers WHERE pool_id = ? AND name = ?"
            row = tx.execute(sql, (pool_id, name)).fetchone()
            previous = None if row is None else Worker.model_validate_json(row[0])
            worker = Worker(
                pool_id=pool_id,
                name=name,
                last_heartbeat_time=at,
                # Like Prefect: a heartbeat without an interval keeps the known one.
                heartbeat_interval_seconds=interval_seconds
                if interval_seconds is not None or previous is None
                else previous.heartbeat_interval_seconds,
                created=at if previous is None else previous.created,
            )
            tx.execute(
                "INSERT OR REPLACE INTO workers (pool_id, name, body) VALUES (?, ?, ?)",
                (pool_id, name, worker.model_dump_json()),
            )
        return worker

    def list_workers(self, pool_id: str) -> list[Worker]:
        with self._db.read() as tx:
            rows = tx.execute("SELECT body FROM workers WHERE pool_id = ?", (pool_id,)).fetchall()
        workers = [Worker.model_validate_json(row[0]) for row in rows]
        workers.sort(key=lambda w: w.name)
        workers.sort(key=lambda w: w.last_heartbeat_time, reverse=True)
        return workers

    def delete_worker(self, pool_id: str, name: str) -> None:
        with self._db.write() as tx:
            sql = "DELETE FROM workers WHERE pool_id = ? AND name = ?"
            if tx.execute(sql, (pool_id, name)).rowcount == 0:
                raise NotFound(f"worker {name!r} not found")
