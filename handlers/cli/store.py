"""``pushpool store init``: create the store a URL names, ready for use.

``dynamodb://TABLE`` creates the single table with its indexes and switches
TTL on (the endpoint, region and credentials come from boto3's standard
settings, so ``AWS_ENDPOINT_URL_DYNAMODB`` points it at DynamoDB Local or
moto); ``sqlite:///path`` creates the file and its schema.  Both are
idempotent: running init on a ready store changes nothing.

Errors print one line on stderr and exit 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from core.errors import PushpoolError
from core.store import DYNAMODB_PREFIX, SQLITE_PREFIX, open_store, sqlite_path
from handlers.cli.app import store_app


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)


@store_app.command("init")
def init(
    store: Annotated[
        str,
        typer.Option(
            "--store",
            envvar="PUSHPOOL_STORE",
            help="dynamodb://TABLE or sqlite:///path/file.db (default: PUSHPOOL_STORE).",
        ),
    ],
) -> None:
    """Create the store's table and indexes (DynamoDB) or schema (SQLite)."""
    try:
        if store.startswith(DYNAMODB_PREFIX):
            _init_dynamodb(store.removeprefix(DYNAMODB_PREFIX).strip("/"))
        elif store.startswith(SQLITE_PREFIX):
            _init_sqlite(store)
        else:
            _fail(f"unknown store URL {store!r}; use dynamodb://TABLE or sqlite:///path/file.db")
    except PushpoolError as exc:
        _fail(exc.detail)


def _init_dynamodb(table: str) -> None:
    # Imported here so other commands never pay for botocore's import.
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from core.store.dynamodb.schema import create_table  # noqa: PLC0415

    if not table:
        _fail("the store URL names no table; write dynamodb://TABLE")
    try:
        created = create_table(table_name=table)
    except (ClientError, BotoCoreError) as exc:
        _fail(f"could not create DynamoDB table {table!r}: {exc}")
    verb = "Created" if created else "Found existing"
    typer.echo(f"{verb} DynamoDB table {table!r} with its indexes; TTL on finished runs is on.")


def _init_sqlite(url: str) -> None:
    path = sqlite_path(url)
    store = open_store(url)
    version = getattr(store, "schema_version", None)
    close = getattr(store, "close", None)
    if close is not None:
        close()
    where = (
        "in memory (gone when this command exits)"
        if path == ":memory:"
        else f"at {Path(path).resolve()}"
    )
    suffix = f" (schema version {version})" if version is not None else ""
    typer.echo(f"SQLite store ready {where}{suffix}.")
