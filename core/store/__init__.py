"""The Store port's adapters, chosen by URL.

``open_store`` is the one place a store URL is interpreted, so the CLI, the
local server and the Lambda handlers accept the same strings.  Adapters are
imported lazily: the SQLite path never imports boto3, and a Lambda that
uses DynamoDB never opens a SQLite file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.errors import InvalidInput
from core.ports import Clock, Store

SQLITE_PREFIX = "sqlite://"
DYNAMODB_PREFIX = "dynamodb://"
MEMORY = ":memory:"


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite://`` URL, spelt as SQLAlchemy (and Prefect) do.

    ``sqlite:///relative.db`` is relative to the working directory,
    ``sqlite:////abs/path.db`` is absolute, and ``sqlite://`` or
    ``sqlite:///:memory:`` is an in-memory database private to this process.
    """
    rest = url.removeprefix(SQLITE_PREFIX)
    if rest in ("", MEMORY, "/" + MEMORY):
        return MEMORY
    if not rest.startswith("/") or rest == "/":
        raise InvalidInput(
            f"store URL {url!r} has no file path; write sqlite:///relative/file.db "
            "or sqlite:////absolute/file.db",
            path="store",
        )
    return str(Path(rest[1:]).expanduser())


def describe_store(url: str) -> str:
    """Where a store URL points, in words a user can check: ``sqlite:///x`` is a
    file relative to the working directory, so the absolute path is spelt out."""
    if url.startswith(SQLITE_PREFIX):
        path = sqlite_path(url)
        if path == MEMORY:
            return "an in-memory SQLite database (gone when this process exits)"
        return f"the SQLite file {Path(path).resolve()}"
    if url.startswith(DYNAMODB_PREFIX):
        return f"the DynamoDB table {url.removeprefix(DYNAMODB_PREFIX).strip('/')!r}"
    return url


def open_store(
    url: str, *, clock: Clock | None = None, retention: timedelta | None = None
) -> Store:
    """The store a URL names: ``sqlite:///path.db`` or ``dynamodb://TABLE``.

    ``retention`` is how long DynamoDB keeps finished runs (its TTL); SQLite
    keeps them until deleted.  ``clock`` is DynamoDB's (its log expiry and
    counter-repair settle window); SQLite has nothing that ages.
    """
    if url.startswith(SQLITE_PREFIX):
        from core.store.sqlite.store import SqliteStore  # noqa: PLC0415 (lazy by design)

        path = sqlite_path(url)
        if path != MEMORY:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path)  # nothing in SQLite ages on its own: no clock
    if url.startswith(DYNAMODB_PREFIX):
        table = url.removeprefix(DYNAMODB_PREFIX).strip("/")
        if not table:
            raise InvalidInput(
                f"store URL {url!r} names no table; write dynamodb://TABLE", path="store"
            )
        from core.store.dynamodb.store import DynamoStore  # noqa: PLC0415 (lazy by design)

        if retention is None:
            store: Store = DynamoStore(table_name=table, clock=clock)
        else:
            store = DynamoStore(table_name=table, clock=clock, retention=retention)
        return store
    raise InvalidInput(
        f"unknown store URL {url!r}; use sqlite:///path/file.db or dynamodb://TABLE",
        path="store",
    )
