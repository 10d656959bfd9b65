"""SQLite plumbing for :class:`core.store.sqlite.store.SqliteStore`: connections,
transactions, applying the schema migrations and error translation.

Kept apart from the store so the store reads as the Store port's semantics
and this module as "how to use SQLite safely from threads and processes":

- WAL journal, so readers never block the writer and vice versa;
- every write is ``BEGIN IMMEDIATE``: the write lock is taken up front, so a
  read-then-write transaction can never fail half-way with ``SQLITE_BUSY``
  and two processes serialise on the file lock, waiting up to the busy
  timeout;
- a small pool of connections, each used by one thread at a time, so a
  server's churning worker threads reuse connections instead of leaking
  them; the pool is per process, so a fork never reuses a parent's
  connection; an in-memory database has one shared connection behind a
  lock, since each ``:memory:`` connection would be a different database.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime

from core.errors import Conflict, InvalidInput, NotFound, PushpoolError, Transient
from core.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION

MEMORY = ":memory:"


def ts(moment: datetime) -> str:
    """A fixed-width UTC text form whose string order is time order (for indexes)."""
    if moment.tzinfo is None:
        raise InvalidInput("timestamps must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def one_body(row: tuple[str] | None, what: str) -> str:
    """The JSON body of a fetched row, or ``NotFound`` naming ``what``."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row[0]


def check_version(tx: sqlite3.Connection, table: str, key: str, version: int, what: str) -> None:
    """``NotFound`` or ``Conflict`` unless the stored version is ``version``."""
    row = tx.execute(f"SELECT version FROM {table} WHERE id = ?", (key,)).fetchone()
    if row is None:
        raise NotFound(f"{what} not found")
    if row[0] != version:
        raise Conflict(
            f"{what} changed since it was read (version {version}, stored {row[0]}); "
            "read it again and retry"
        )


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _translate(exc: sqlite3.Error) -> PushpoolError | None:
    """The core error for a storage error, or None for bugs that should surface."""
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        return Transient(
            "the SQLite store is busy (another process held the write lock past the "
            f"busy timeout): {exc}; retry shortly"
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return Conflict(f"the write collides with an existing record: {exc}")
    return None


class Database:
    """Thread- and process-safe access to one SQLite database file."""

    def __init__(self, path: str, *, timeout_seconds: float) -> None:
        self._path = path
        self._timeout = timeout_seconds
        self._registry_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []  # every one opened, to close
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._shared_lock = threading.RLock()
        self._shared = self._open() if path == MEMORY else None
        self._migrate()

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL survives application crashes; only an OS crash or
            # power loss can lose the last transactions (documented in docs/storage.md).
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise _translate(exc) or exc from exc
        with self._registry_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if self._shared is not None:
            with self._shared_lock:
                yield self._shared
            return
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn)

    def _checkout(self) -> sqlite3.Connection:
        with self._registry_lock:
            if self._pid != os.getpid():  # forked: the parent's connections are not ours
                self._pid, self._idle, self._connections = os.getpid(), [], []
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, conn: sqlite3.Connection) -> None:
        with self._registry_lock:
            if conn not in self._connections:
                return  # closed by close() while in use
            if not conn.in_transaction:
                self._idle.append(conn)
                return
            self._connections.remove(conn)  # a failed ROLLBACK: never reuse it
        conn.close()

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._connection() as conn:
            try:
                conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc) or exc from exc
                raise

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        return self._transaction("BEGIN IMMEDIATE")

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot across several queries."""
        return self._transaction("BEGIN")

    def _migrate(self) -> None:
        if self._current_version() == SCHEMA_VERSION:
            return  # the common case: no write lock needed to open an existing store
        with self.write() as tx:
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.execute("SELECT version FROM schema_version").fetchone()
            current = 0 if row is None else int(row[0])
            if current > SCHEMA_VERSION:
                raise InvalidInput(
                    f"the SQLite store {self._path!r} has schema version {current}, newer than "
                    f"this pushpool understands ({SCHEMA_VERSION}); upgrade pushpool"
                )
            for statements in MIGRATIONS[current:]:
                for statement in statements:
                    tx.execute(statement)
            if row is None:
                tx.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif current < SCHEMA_VERSION:
                tx.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def _current_version(self) -> int:
        with self.read() as tx:
            exists = tx.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            ).fetchone()
            row = exists and tx.execute("SELECT version FROM schema_version").fetchone()
            return int(row[0]) if row else 0

    def schema_version(self) -> int:
        """The schema version recorded in the file (for migrations and ``store init``)."""
        return self._current_version()

    def close(self) -> None:
        """Close every connection this object opened (in any thread)."""
        with self._registry_lock:
            connections, self._connections, self._idle = self._connections, [], []
        for conn in connections:
            conn.close()
        self._shared = None
