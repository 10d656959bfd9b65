"""Run log lines in the SQLite store, with caps instead of a TTL.

SQLite has no background expiry, so retention is a bound on size, enforced
in the same transaction as each append: at most ``per_run`` lines per run
(its oldest lines go first: the end of a run's output is what explains how
it ended) and ``total`` lines in the file (the oldest written go first).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.logs import LogLine
from core.store.sqlite.db import Database

DEFAULT_LINES_PER_RUN = 10_000
DEFAULT_LINES_TOTAL = 1_000_000


class Logs:
    """The ``core.ports.LogStore`` port on the store's SQLite file."""

    def __init__(
        self,
        db: Database,
        *,
        per_run: int = DEFAULT_LINES_PER_RUN,
        total: int = DEFAULT_LINES_TOTAL,
    ) -> None:
        self._db = db
        self._log_cap_per_run = per_run
        self._log_cap_total = total

    def append_logs(self, lines: Sequence[LogLine]) -> None:
        if not lines:
            return
        runs = {line.flow_run_id for line in lines}
        with self._db.write() as tx:
            tx.executemany(
                "INSERT OR IGNORE INTO logs (run_id, key, body) VALUES (?, ?, ?)",
                [(line.flow_run_id, line.key, line.model_dump_json()) for line in lines],
            )
            for run_id in runs:
                tx.execute(
                    "DELETE FROM logs WHERE run_id = ? AND key IN (SELECT key FROM logs"
                    " WHERE run_id = ? ORDER BY key DESC LIMIT -1 OFFSET ?)",
                    (run_id, run_id, self._log_cap_per_run),
                )
            tx.execute(
                "DELETE FROM logs WHERE seq <= (SELECT MAX(seq) FROM logs) - ?",
                (self._log_cap_total,),
            )

    def read_logs(
        self, run_id: str, *, after: str | None = None, limit: int, newest_first: bool = False
    ) -> list[LogLine]:
        order = "DESC" if newest_first else "ASC"
        with self._db.read() as tx:
            rows = tx.execute(
                f"SELECT body FROM logs WHERE run_id = ? AND key > ? ORDER BY key {order} LIMIT ?",
                (run_id, after or "", max(limit, 0)),
            ).fetchall()
        return [LogLine.model_validate_json(row[0]) for row in rows]
