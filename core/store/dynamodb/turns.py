"""The per-pool dispatch lease on DynamoDB (``Store.take_dispatch_turn`` and
``Store.end_dispatch_turn``).

The lease lives on the pool's small last-seen item (``P#<pool id>`` /
``SEEN``), beside ``at``, the pool's last dispatch: taking the lease *is*
the pass's ``record_dispatch`` write, so a pass pays one extra small write
(the release) for being alone.  A request that finds the lease held marks it
(``again``) with one more small write; the holder's release is conditioned
on there being no mark, so a wake-up that arrives mid-pass is never lost.
"""

from __future__ import annotations

from datetime import datetime

from core.errors import NotFound
from core.ports import Again
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_s, names, s, stamp
from core.store.dynamodb.ops import EXISTS
from core.store.dynamodb.table import Table


class _Held(Exception):
    def __init__(self, item: Item | None) -> None:
        self.item = item


def _held(item: Item | None) -> Exception:
    return _Held(item)


TAKE_IF = f"{EXISTS} AND (attribute_not_exists(#holder) OR #expires <= :at OR #holder = :me)"
TAKE = "SET #at = :at, #holder = :me, #expires = :until REMOVE #again"
# RESUME outranks ADMIT: only an absent mark (or RESUME itself) is overwritten.
MARK_IF = "#holder = :other AND #expires > :at"
MARK_ADMIT = "SET #again = if_not_exists(#again, :again)"
MARK_RESUME = "SET #again = :again"
RELEASE_IF = "#holder = :me AND attribute_not_exists(#again)"
RELEASE = "REMOVE #holder, #expires, #again"
KEEP_IF = "#holder = :me"
KEEP = "SET #expires = :until REMOVE #again"
MAX_TRIES = 3


class Turns:
    """Who is passing over each pool, and whether someone asked for another pass."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def take_dispatch_turn(
        self, pool_id: str, holder: str, *, at: datetime, until: datetime, again: Again
    ) -> bool:
        """One conditional update to take the lease; if held, one to mark it.
        A lease released between the two is tried again (a few times)."""
        for _ in range(MAX_TRIES):
            try:
                self._seen_update(
                    pool_id,
                    TAKE,
                    TAKE_IF,
                    {":at": s(stamp(at)), ":me": s(holder), ":until": s(stamp(until))},
                )
                return True
            except _Held as found:
                if found.item is None:
                    raise NotFound(f"work pool with id {pool_id!r} not found") from None
                other = get_s(found.item, "holder") or ""
            try:
                self._seen_update(
                    pool_id,
                    MARK_RESUME if again is Again.RESUME else MARK_ADMIT,
                    MARK_IF,
                    {":other": s(other), ":at": s(stamp(at)), ":again": s(again.value)},
                )
                return False
            except _Held:
                continue  # released or expired meanwhile: try to take it
        return False  # contended throughout: someone holds it, and will see the work

    def end_dispatch_turn(
        self, pool_id: str, holder: str, *, until: datetime | None
    ) -> Again | None:
        try:
            self._seen_update(pool_id, RELEASE, RELEASE_IF, {":me": s(holder)})
            return None
        except _Held as found:
            item = found.item or {}
        if get_s(item, "holder") != holder:
            return None  # expired and taken, or the pool is gone
        mark = Again(get_s(item, "again") or Again.ADMIT.value)
        try:
            if until is None:
                self._seen_update(pool_id, RELEASE, KEEP_IF, {":me": s(holder)})
            else:
                values = {":me": s(holder), ":until": s(stamp(until))}
                self._seen_update(pool_id, KEEP, KEEP_IF, values)
        except _Held:
            return None  # expired and taken meanwhile: the new holder passes
        return mark

    def _seen_update(self, pool_id: str, update: str, condition: str, values: Item) -> None:
        self._table.conditional(
            "update_item",
            _held,
            Key=schema.key(schema.pool_pk(pool_id), schema.SEEN_SK),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names(update, condition),
            ExpressionAttributeValues=values,
        )
