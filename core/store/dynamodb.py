"""The DynamoDB store: ``DynamoStore`` and ``create_table``.

The implementation lives in ``core.store.dynamo`` (one module per subject);
this module is the stable import path.  ``create_table`` builds a client
from boto3's standard settings when none is given (``pushpool store init``).
"""

from __future__ import annotations

from typing import Any

from core.store.dynamo.schema import create_table as _create_table
from core.store.dynamo.schema import table_definition
from core.store.dynamo.store import DEFAULT_RETENTION, DynamoStore
from core.store.dynamo.table import Backoff

DEFAULT_TABLE = "pushpool"


def create_table(client: Any = None, table_name: str = DEFAULT_TABLE) -> bool:
    """Create the table with its indexes and TTL (idempotent); True if created."""
    if client is None:
        from core.store.dynamo.table import _default_client  # noqa: PLC0415

        client = _default_client()
    return _create_table(client, table_name)


__all__ = [
    "DEFAULT_RETENTION",
    "Backoff",
    "DynamoStore",
    "create_table",
    "table_definition",
]
