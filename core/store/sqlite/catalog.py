"""Flows, deployments, API tokens and the small cache in SQLite.

The parts of the store that admission never touches.  Same rules
as the rest of the store: one ``BEGIN IMMEDIATE`` transaction per write,
version-conditional updates, duplicates answered with ``Conflict``.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from core.errors import Conflict, NotFound
from core.models import Deployment, Flow, Token
from core.ports import ScheduleProgress
from core.store.sqlite.db import Database, check_version, from_ts, one_body, ts
from core.store.sqlite.schema import UNMATERIALISED


class Catalog:
    """Flows, deployments (with their schedule progress), API tokens and the cache."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- flows and deployments ------------------------------------------------------
    def ensure_flow(self, flow: Flow) -> Flow:
        with self._db.write() as tx:
            row = tx.execute("SELECT body FROM flows WHERE name = ?", (flow.name,)).fetchone()
            if row is not None:
                return Flow.model_validate_json(row[0])
            tx.execute(
                "INSERT INTO flows (id, name, body) VALUES (?, ?, ?)",
                (flow.id, flow.name, flow.model_dump_json()),
            )
        return flow

    def get_flow(self, flow_id: str) -> Flow:
        with self._db.read() as tx:
            row = tx.execute("SELECT body FROM flows WHERE id = ?", (flow_id,)).fetchone()
        return Flow.model_validate_json(one_body(row, f"flow with id {flow_id!r}"))

    @staticmethod
    def _deployment_columns(deployment: Deployment) -> tuple[str, str, str, int, str]:
        return (
            deployment.flow_name,
            deployment.name,
            deployment.work_pool_name,
            deployment.version,
            deployment.model_dump_json(),
        )

    def _check_deployment_name(self, tx: sqlite3.Connection, deployment: Deployment) -> None:
        sql = "SELECT 1 FROM deployments WHERE flow_name = ? AND name = ? AND id <> ?"
        if tx.execute(sql, (deployment.flow_name, deployment.name, deployment.id)).fetchone():
            raise Conflict(f"deployment {deployment.flow_name}/{deployment.name} already exists")

    def create_deployment(self, deployment: Deployment) -> None:
        with self._db.write() as tx:
            self._check_deployment_name(tx, deployment)
            if tx.execute("SELECT 1 FROM deployments WHERE id = ?", (deployment.id,)).fetchone():
                raise Conflict(f"a deployment with id {deployment.id!r} already exists")
            tx.execute(
                "INSERT INTO deployments (flow_name, name, work_pool_name, version, body,"
                " materialised_until, id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*self._deployment_columns(deployment), UNMATERIALISED, deployment.id),
            )

    def get_deployment(self, deployment_id: str) -> Deployment:
        with self._db.read() as tx:
            sql = "SELECT body FROM deployments WHERE id = ?"
            row = tx.execute(sql, (deployment_id,)).fetchone()
        return Deployment.model_validate_json(
            one_body(row, f"deployment with id {deployment_id!r}")
        )

    def find_deployment(self, flow_name: str, name: str) -> Deployment:
        with self._db.read() as tx:
            sql = "SELECT body FROM deployments WHERE flow_name = ? AND name = ?"
            row = tx.execute(sql, (flow_name, name)).fetchone()
        return Deployment.model_validate_json(one_body(row, f"deployment {flow_name}/{name}"))

    def list_deployments(self, *, pool_name: str | None = None) -> list[Deployment]:
        sql = "SELECT body FROM deployments"
        args: tuple[str, ...] = ()
        if pool_name is not None:
            sql, args = sql + " WHERE work_pool_name = ?", (pool_name,)
        with self._db.read() as tx:
            rows = tx.execute(sql + " ORDER BY flow_name, name", args).fetchall()
        return [Deployment.model_validate_json(row[0]) for row in rows]

    def update_deployment(self, deployment: Deployment) -> Deployment:
        stored = deployment.model_copy(update={"version": deployment.version + 1})
        what = f"deployment {deployment.flow_name}/{deployment.name}"
        with self._db.write() as tx:
            check_version(tx, "deployments", deployment.id, deployment.version, what)
            self._check_deployment_name(tx, deployment)
            tx.execute(
                "UPDATE deployments SET flow_name = ?, name = ?, work_pool_name = ?,"
                " version = ?, body = ?, materialised_until = ? WHERE id = ?",
                (*self._deployment_columns(stored), UNMATERIALISED, deployment.id),
            )
        return stored

    # Any write of a deployment (above) sets ``materialised_until`` back to
    # UNMATERIALISED, so the next tick looks at it again.
    def deployments_to_schedule(self, before: datetime, *, limit: int) -> list[ScheduleProgress]:
        sql = (
            "SELECT body, materialised_until FROM deployments WHERE materialised_until < ?"
            " ORDER BY materialised_until, id LIMIT ?"
        )
        with self._db.read() as tx:
            rows = tx.execute(sql, (ts(before), limit)).fetchall()
        return [
            ScheduleProgress(
                deployment=Deployment.model_validate_json(body),
                materialised_until=None if until == UNMATERIALISED else from_ts(until),
            )
            for body, until in rows
        ]

    def mark_materialised(self, deployment: Deployment, *, until: datetime | None) -> bool:
        with self._db.write() as tx:
            changed = tx.execute(
                "UPDATE deployments SET materialised_until = ? WHERE id = ? AND version = ?",
                (None if until is None else ts(until), deployment.id, deployment.version),
            ).rowcount
        return changed == 1

    def delete_deployment(self, deployment: Deployment) -> None:
        with self._db.write() as tx:
            sql = "DELETE FROM deployments WHERE id = ?"
            if tx.execute(sql, (deployment.id,)).rowcount == 0:
                raise NotFound(f"deployment {deployment.flow_name}/{deployment.name} not found")

    # -- tokens and small caches -------------------------------------------------------
    def put_token(self, token: Token) -> None:
        with self._db.write() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO tokens (id, secret_hash, body) VALUES (?, ?, ?)",
                (token.id, token.secret_hash, token.model_dump_json()),
            )

    def find_token(self, secret_hash: str) -> Token | None:
        with self._db.read() as tx:
            sql = "SELECT body FROM tokens WHERE secret_hash = ?"
            row = tx.execute(sql, (secret_hash,)).fetchone()
        return None if row is None else Token.model_validate_json(row[0])

    def get_cached(self, key: str) -> str | None:
        with self._db.read() as tx:
            row = tx.execute("SELECT value FROM cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put_cached(self, key: str, value: str) -> None:
        with self._db.write() as tx:
            tx.execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)", (key, value))
