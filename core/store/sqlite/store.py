"""The embedded default store: one SQLite file, same semantics as DynamoDB.

Local mode (``pushpool server``) and tests run on this.  Every method that
changes state is one ``BEGIN IMMEDIATE`` transaction, so several threads and
several processes can share one file and a claim is still atomic: the run's
state and version, the pool and queue pause flags and limits, and both slot
counters are checked and written under one write lock.  Objects are stored
as JSON beside the few columns that are queried or conditioned on.
"""

from __future__ import annotations

from pathlib import Path

from core.store.composed import ComposedStore
from core.store.sqlite.catalog import Catalog
from core.store.sqlite.db import Database
from core.store.sqlite.logs import DEFAULT_LINES_PER_RUN, DEFAULT_LINES_TOTAL, Logs
from core.store.sqlite.pools import Pools
from core.store.sqlite.queues import Queues
from core.store.sqlite.runs import Runs
from core.store.sqlite.slots import Slots
from core.store.sqlite.turns import Turns
from core.store.sqlite.workers import Workers

DEFAULT_TIMEOUT_SECONDS = 10.0


class SqliteStore(ComposedStore):
    """The ``core.ports.Store`` port on a SQLite file (or ``":memory:"``).

    ``timeout_seconds`` is how long a write waits for another thread or
    process holding the write lock before it raises ``Transient``.
    Run log lines are capped at ``log_lines_per_run`` per run and
    ``log_lines_total`` in all (``core.store.sqlite.logs``).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        log_lines_per_run: int = DEFAULT_LINES_PER_RUN,
        log_lines_total: int = DEFAULT_LINES_TOTAL,
    ) -> None:
        self._db = Database(str(path), timeout_seconds=timeout_seconds)
        # One part per subject, all on this one database (see the package docstring).
        super().__init__(
            pools=Pools(self._db),
            queues=Queues(self._db),
            workers=Workers(self._db),
            catalog=Catalog(self._db),
            runs=Runs(self._db),
            slots=Slots(self._db),
            turns=Turns(self._db),
            logs=Logs(self._db, per_run=log_lines_per_run, total=log_lines_total),
        )

    def close(self) -> None:
        self._db.close()

    @property
    def schema_version(self) -> int:
        return self._db.schema_version()
