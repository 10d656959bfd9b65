"""The per-pool dispatch lease on SQLite (``Store.take_dispatch_turn`` and
``Store.end_dispatch_turn``): one row per pool in ``dispatch_leases``, each
call one ``BEGIN IMMEDIATE`` transaction, so its read-then-write is atomic."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from core.errors import NotFound
from core.ports import Again
from core.store.sqlite.db import Database, ts


class Turns:
    """Who is passing over each pool, and whether someone asked for another pass."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def take_dispatch_turn(
        self, pool_id: str, holder: str, *, at: datetime, until: datetime, again: Again
    ) -> bool:
        with self._db.write() as tx:
            return _take(tx, pool_id, holder, at=at, until=until, again=again)

    def end_dispatch_turn(
        self, pool_id: str, holder: str, *, until: datetime | None
    ) -> Again | None:
        with self._db.write() as tx:
            return _end(tx, pool_id, holder, until=until)


def _take(
    tx: sqlite3.Connection,
    pool_id: str,
    holder: str,
    *,
    at: datetime,
    until: datetime,
    again: Again,
) -> bool:
    if tx.execute("SELECT 1 FROM pools WHERE id = ?", (pool_id,)).fetchone() is None:
        raise NotFound(f"work pool with id {pool_id!r} not found")
    row = tx.execute(
        "SELECT holder, expires FROM dispatch_leases WHERE pool_id = ?", (pool_id,)
    ).fetchone()
    if row is not None and row[0] != holder and row[1] > ts(at):
        # RESUME outranks ADMIT: a RESUME pass does everything an ADMIT pass does.
        tx.execute(
            "UPDATE dispatch_leases SET again = CASE WHEN again = ? THEN again ELSE ? END"
            " WHERE pool_id = ?",
            (Again.RESUME.value, again.value, pool_id),
        )
        return False
    tx.execute(
        "INSERT OR REPLACE INTO dispatch_leases (pool_id, holder, expires, again)"
        " VALUES (?, ?, ?, NULL)",
        (pool_id, holder, ts(until)),
    )
    tx.execute(
        "UPDATE pools SET body = json_set(body, '$.last_dispatched', ?) WHERE id = ?",
        (ts(at), pool_id),
    )
    return True


def _end(
    tx: sqlite3.Connection, pool_id: str, holder: str, *, until: datetime | None
) -> Again | None:
    row = tx.execute(
        "SELECT holder, again FROM dispatch_leases WHERE pool_id = ?", (pool_id,)
    ).fetchone()
    if row is None or row[0] != holder:
        return None  # expired and taken (or released): the new holder passes
    mark = None if row[1] is None else Again(row[1])
    if mark is not None and until is not None:
        tx.execute(
            "UPDATE dispatch_leases SET again = NULL, expires = ? WHERE pool_id = ?",
            (ts(until), pool_id),
        )
    else:
        tx.execute("DELETE FROM dispatch_leases WHERE pool_id = ?", (pool_id,))
    return mark
