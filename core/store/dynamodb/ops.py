"""Builders for the transaction items the store repeats: claim a new key,
delete, check existence, check a version, move a name claim."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, NotFound
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_n, names, s
from core.store.dynamodb.table import Op


class Exists(Exception):
    """An item that must be new already exists (internal)."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("exists")
        self.item = item


NEW = "attribute_not_exists(#pk)"
EXISTS = "attribute_exists(#pk)"


def put_new(item: Item, error: Exception) -> Op:
    """Put ``item`` only if its key is free; else raise ``error``."""
    return Op(
        {"Put": {"Item": item, "ConditionExpression": NEW, "ExpressionAttributeNames": names(NEW)}},
        lambda _: error,
    )


def put(item: Item) -> Op:
    """Put ``item`` unconditionally (it belongs to an object claimed by another op)."""
    return Op({"Put": {"Item": item}}, lambda _: Conflict("an unconditional put cannot fail"))


def delete(key: dict[str, Any], error: Exception | None = None) -> Op:
    """Delete ``key``; with ``error``, only if it exists."""
    body: dict[str, Any] = {"Key": key}
    if error is not None:
        body |= {"ConditionExpression": EXISTS, "ExpressionAttributeNames": names(EXISTS)}
    return Op({"Delete": body}, lambda _: error or Conflict("an unconditional delete cannot fail"))


def must_exist(key: dict[str, Any], error: Exception) -> Op:
    """Check, without writing, that ``key`` exists."""
    return Op(
        {
            "ConditionCheck": {
                "Key": key,
                "ConditionExpression": EXISTS,
                "ExpressionAttributeNames": names(EXISTS),
            }
        },
        lambda _: error,
    )


def put_versioned(item: Item, *, expected: int, what: str) -> Op:
    """Replace an item only if it still has version ``expected``."""
    condition = "#version = :version"
    return Op(
        {
            "Put": {
                "Item": item,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names(condition),
                "ExpressionAttributeValues": {":version": {"N": str(expected)}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        lambda stored: stale(what, expected, stored),
    )


def stale(what: str, expected: int, item: Item | None) -> Exception:
    """NotFound for a missing item, Conflict for one whose version moved on."""
    if item is None:
        return NotFound(f"{what} not found")
    return Conflict(
        f"{what} changed since it was read (version {expected}, stored "
        f"{get_n(item, 'version')}); read it again and retry"
    )


def rename_ops(
    pk: str, *, old_sk: str, new_sk: str, attr: str, owner: str, error: Exception
) -> list[Op]:
    """Move a name claim: delete the old one, claim the new one (or fail)."""
    return [
        delete(schema.key(pk, old_sk)),
        put_new({**schema.key(pk, new_sk), attr: s(owner)}, error),
    ]
