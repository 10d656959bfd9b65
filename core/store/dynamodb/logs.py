"""Run log lines in the single table: one item per line, expired by TTL.

A run's lines are one partition, ``L#<run id>``, sorted by the line's key
(time first), so following a run is one ``Query`` from the last key seen.
Lines are written with ``BatchWriteItem`` (25 a request) without conditions:
a line's key is derived from its content, so writing it twice stores it
once.  Each item expires ``retention`` after it was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from core.logs import LogLine
from core.ports import Clock
from core.store.dynamodb import schema
from core.store.dynamodb.codec import AttrValue, Item, epoch_seconds, get_n, get_s, n, s
from core.store.dynamodb.table import Table


class Logs:
    """The ``core.ports.LogStore`` port: run log lines, expired by TTL."""

    def __init__(self, table: Table, *, clock: Clock, retention: timedelta) -> None:
        self._table = table
        self._clock = clock
        self._retention = retention

    def append_logs(self, lines: Sequence[LogLine]) -> None:
        expires = n(epoch_seconds(self._clock() + self._retention))
        # One BatchWriteItem may not name a key twice: keep the last of duplicates.
        items = {(line.flow_run_id, line.key): line for line in lines}
        self._table.batch_put([_item(line, expires) for line in items.values()])

    def read_logs(
        self, run_id: str, *, after: str | None = None, limit: int, newest_first: bool = False
    ) -> list[LogLine]:
        params: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :pk AND #sk > :after",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {
                ":pk": s(schema.log_pk(run_id)),
                ":after": s(after or schema.LOG_SK_FLOOR),
            },
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        found: list[LogLine] = []
        while len(found) < limit:
            page = self._table.call("query", **params, Limit=limit - len(found))
            found.extend(_line(run_id, item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found


def _item(line: LogLine, expires: AttrValue) -> Item:
    return {
        "pk": s(schema.log_pk(line.flow_run_id)),
        "sk": s(line.key),
        "t": s(line.timestamp.isoformat()),
        "lvl": n(line.level),
        "name": s(line.name),
        "msg": s(line.message),
        schema.TTL_ATTRIBUTE: expires,
    }


def _line(run_id: str, item: Item) -> LogLine:
    return LogLine.model_validate(
        {
            "flow_run_id": run_id,
            "key": get_s(item, "sk"),
            "timestamp": get_s(item, "t"),
            "level": get_n(item, "lvl"),
            "name": get_s(item, "name") or "",
            "message": get_s(item, "msg") or "",
        }
    )
