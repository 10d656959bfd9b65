"""Writing a run item and moving its slot counters, shared by ``runs``
(creating a run that starts holding slots) and ``slots`` (claims and state
changes), so both build those operations the same way.  The counters all
live on the pool's counter item (:mod:`core.store.dynamodb.counters`).
"""

from __future__ import annotations

from datetime import timedelta

from core.errors import Conflict, NotFound
from core.models import FlowRun
from core.ports import Clock
from core.store.dynamodb import counters
from core.store.dynamodb.codec import Item, n, names
from core.store.dynamodb.items import run_from, run_item
from core.store.dynamodb.table import Op


class RunWrites:
    """Builds the transaction items of run writes; ``clock`` stamps the counters."""

    def __init__(self, *, clock: Clock, shards: int, retention: timedelta) -> None:
        self._clock = clock
        self._shards = shards
        self._retention = retention

    def run_item(self, run: FlowRun) -> Item:
        return run_item(run, shards=self._shards, retention=self._retention)

    def take_op(self, run: FlowRun) -> Op:
        """Take one slot of the run's pool and queue (one update of the pool's
        counter item) if neither is paused or full."""
        return counters.take_op(run, self._clock())

    def release_op(self, run: FlowRun, *, pool: bool = True, queue: bool = True) -> Op | None:
        """Give back the run's slots; a missing or zero counter raises ``CounterGone``."""
        return counters.release_op(run, self._clock(), pool=pool, queue=queue)

    def put_run_op(self, new: FlowRun, *, expected: FlowRun, require_state: str = "") -> Op:
        """Replace the run item if it still has ``expected``'s version (and
        ``require_state`` as its state type, when given)."""
        condition = "#version = :version"
        values = {":version": n(expected.version)}
        if require_state:
            condition += " AND #state = :state"
            values[":state"] = {"S": require_state}
        return Op(
            {
                "Put": {
                    "Item": self.run_item(new),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names(condition),
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            lambda item: run_conflict(expected, item),
        )


def run_conflict(expected: FlowRun, item: Item | None) -> Exception:
    """Why a write of ``expected`` was refused, judged from the stored item."""
    if item is None:
        return NotFound(f"flow run {expected.id!r} not found")
    stored = run_from(item)
    if stored.version != expected.version:
        return Conflict(
            f"flow run {expected.id!r} changed since it was read (version "
            f"{expected.version}, stored {stored.version}); read it again and retry"
        )
    return Conflict(f"flow run {expected.id!r} is {stored.state_type}, no longer SCHEDULED")
