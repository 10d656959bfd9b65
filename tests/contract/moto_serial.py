"""Make moto's DynamoDB linearizable, as the real service is.

moto applies a request in Python without locking: two threads (or two
HTTP requests to ``ThreadedMotoServer``) can interleave a conditional
check with another write, and a cancelled transaction restores a deep
copy of the whole table, wiping writes that other threads made meanwhile.
Real DynamoDB never does either, so the concurrency tests would measure
moto, not the store.  :func:`serialize_moto_dynamodb` makes every DynamoDB
action in this process run under one lock; it serves both the in-process
mock and a ``ThreadedMotoServer`` started in this process.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_pushpool_serialized"


def serialize_moto_dynamodb() -> None:
    """Idempotently wrap moto's DynamoDB request dispatch in a process-wide lock."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def call_action(self: Any) -> Any:
        with _LOCK:
            return original(self)

    setattr(call_action, _MARK, True)
    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
