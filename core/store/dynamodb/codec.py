"""DynamoDB attribute values, sortable timestamps and expression helpers.

The store talks to the low-level client (typed attribute values), so these
few helpers keep item building readable.  Models travel as one ``doc``
attribute (compressed JSON, see :func:`pack`); only what a key, an index or
a condition needs is also written as its own attribute.
"""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
AttrValue = dict[str, Any]
Item = dict[str, AttrValue]

_NAME = re.compile(r"#(\w+)")


def s(value: str) -> AttrValue:
    return {"S": value}


def n(value: int) -> AttrValue:
    return {"N": str(value)}


def b(value: bool) -> AttrValue:
    return {"BOOL": value}


def get_s(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def get_n(item: Item, name: str) -> int | None:
    value = item.get(name)
    return None if value is None else int(value["N"])


def get_b(item: Item, name: str) -> bool:
    value = item.get(name)
    return bool(value["BOOL"]) if value is not None else False


def names(*expressions: str | None) -> dict[str, str]:
    """``ExpressionAttributeNames`` for every ``#attr`` in the expressions.

    Every attribute is referenced through a placeholder so that reserved
    words (``name``, ``state``, ``active``...) never break an expression.
    """
    found: dict[str, str] = {}
    for expression in expressions:
        for match in _NAME.finditer(expression or ""):
            found[f"#{match.group(1)}"] = match.group(1)
    return found


def pack(model: BaseModel, *, exclude: set[str] | None = None) -> AttrValue:
    """A model as zlib-compressed JSON without default values (a binary value).

    DynamoDB bills writes per started kilobyte and the document is most of
    an item: compressed, a run item stays under 1 KB through its whole life,
    halving the write units of every state change and index entry.
    """
    text = model.model_dump_json(exclude_defaults=True, exclude=exclude)
    return {"B": zlib.compress(text.encode(), 6)}


def unpack(item: Item, model: type[M]) -> M:
    value = item["doc"]
    raw = value.get("B")
    text = zlib.decompress(bytes(raw)).decode() if raw is not None else str(value["S"])
    return model.model_validate_json(text)


def stamp(at: datetime) -> str:
    """A fixed-width UTC timestamp whose string order is time order."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def epoch_seconds(at: datetime) -> int:
    return int(at.timestamp())


def shard(key: str, shards: int) -> int:
    """A stable shard number for ``key`` (the same in every process)."""
    return zlib.crc32(key.encode()) % shards
