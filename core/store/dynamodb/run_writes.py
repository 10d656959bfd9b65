"""Writing a run item and moving its slot counters, shared by ``runs``
(creating a run that starts holding slots) and ``slots`` (claims and state
changes), so both build those operations the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from core.errors import CapacityFull, Conflict, NotFound
from core.models import FlowRun
from core.ports import Clock
from core.store.dynamodb import schema
from core.store.dynamodb.codec import Item, get_b, get_n, n, names, s, stamp
from core.store.dynamodb.items import run_from, run_item
from core.store.dynamodb.table import Op


class CounterGone(Exception):
    """A slot counter to release is missing or already at zero (internal).

    Releasing must never fail a state change: the counter's pool or queue
    was deleted, or it already reads zero after drift.  The caller retries
    the transaction without that counter, like SQLite's ``MAX(active-1, 0)``.
    """

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _gone(index: int) -> Callable[[Item | None], Exception]:
    return lambda _item: CounterGone(index)


class RunWrites:
    """Builds the transaction items of run writes; ``clock`` stamps the counters."""

    def __init__(self, *, clock: Clock, shards: int, retention: timedelta) -> None:
        self._clock = clock
        self._shards = shards
        self._retention = retention

    def run_item(self, run: FlowRun) -> Item:
        return run_item(run, shards=self._shards, retention=self._retention)

    def _counter_keys(self, run: FlowRun) -> list[tuple[str, dict[str, dict[str, str]], str]]:
        return [
            (
                "pool",
                schema.key(schema.pool_pk(run.work_pool_id), schema.SLOTS_SK),
                run.work_pool_name,
            ),
            (
                "queue",
                schema.key(schema.pool_pk(run.work_pool_id), schema.queue_sk(run.work_queue_id)),
                run.work_queue_name,
            ),
        ]

    def take_ops(self, run: FlowRun) -> list[Op]:
        """Take one slot of the run's pool and queue if neither is paused or full."""
        condition = (
            "attribute_exists(#pk) AND #paused = :no AND "
            "(attribute_not_exists(#lim) OR #active < #lim)"
        )
        update = "ADD #active :one SET #touched = :at"
        return [
            Op(
                {
                    "Update": {
                        "Key": key,
                        "UpdateExpression": update,
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": names(update, condition),
                        "ExpressionAttributeValues": {
                            ":one": n(1),
                            ":no": {"BOOL": False},
                            ":at": s(stamp(self._clock())),
                        },
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                _CapacityError(kind, name, run),
            )
            for kind, key, name in self._counter_keys(run)
        ]

    def release_ops(self, run: FlowRun, *, skip: frozenset[int] = frozenset()) -> list[Op]:
        """Give back the run's slots; a missing or zero counter raises ``CounterGone``."""
        condition = "#active > :zero"
        update = "ADD #active :minus SET #touched = :at"
        ops = []
        for index, (_kind, key, _name) in enumerate(self._counter_keys(run)):
            if index in skip:
                continue
            ops.append(
                Op(
                    {
                        "Update": {
                            "Key": key,
                            "UpdateExpression": update,
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": names(update, condition),
                            "ExpressionAttributeValues": {
                                ":minus": n(-1),
                                ":zero": n(0),
                                ":at": s(stamp(self._clock())),
                            },
                        }
                    },
                    _gone(index),
                )
            )
        return ops

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


class _CapacityError:
    """Turns a failed slot condition into NotFound or CapacityFull(scope)."""

    def __init__(self, kind: str, name: str, run: FlowRun) -> None:
        self.kind, self.name, self.run = kind, name, run

    def __call__(self, item: Item | None) -> Exception:
        if item is None:
            return NotFound(f"work {self.kind} {self.name!r} of flow run {self.run.id!r} not found")
        if get_b(item, "paused"):
            return CapacityFull(f"work {self.kind} {self.name!r} is paused", scope="paused")
        active, limit = get_n(item, "active"), get_n(item, "lim")
        return CapacityFull(
            f"work {self.kind} {self.name!r} is at its concurrency limit ({active} of "
            f"{limit} slots in use); the run waits until a slot is released",
            scope=self.kind,
        )
