"""``DynamoStore``: the ``core.ports.Store`` port on one DynamoDB table."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from core.ports import Clock
from core.store.composed import ComposedStore
from core.store.dynamodb.catalog import Catalog
from core.store.dynamodb.logs import Logs
from core.store.dynamodb.pools import Pools
from core.store.dynamodb.queues import Queues
from core.store.dynamodb.run_writes import RunWrites
from core.store.dynamodb.runs import Runs
from core.store.dynamodb.slots import Slots
from core.store.dynamodb.table import Backoff, Table
from core.store.dynamodb.turns import Turns
from core.store.dynamodb.workers import Workers

DEFAULT_RETENTION = timedelta(days=30)
DEFAULT_SHARDS = 4
DEFAULT_SETTLE = timedelta(seconds=10)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class DynamoStore(ComposedStore):
    """Every ``Store`` method on a single on-demand table (see docs/storage.md).

    ``client`` is a boto3 DynamoDB client; without one, a client is made on
    first use from boto3's standard settings (``AWS_ENDPOINT_URL_DYNAMODB``,
    region, credentials).  ``sleep`` and ``random`` drive the retry back-off
    and ``clock`` the counter-repair settle window, so tests inject them.
    Finished runs expire ``retention`` after they ended (DynamoDB TTL), run
    log lines ``retention`` after they were written.
    ``shards`` spreads the due/active/runs indexes over that many partition
    keys; it is part of the data layout, so never change it on a live table.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        clock: Clock | None = None,
        retention: timedelta = DEFAULT_RETENTION,
        shards: int = DEFAULT_SHARDS,
        settle: timedelta = DEFAULT_SETTLE,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        backoff: Backoff | None = None,
    ) -> None:
        self._table = Table(
            table_name, client=client, sleep=sleep, random=random, backoff=backoff or Backoff()
        )
        clock = clock or _utc_now
        # One part per subject, all on this one table (see the package docstring).
        writes = RunWrites(clock=clock, shards=shards, retention=retention)
        queues = Queues(self._table)
        runs = Runs(self._table, writes, shards=shards)
        super().__init__(
            pools=Pools(self._table, queues),
            queues=queues,
            workers=Workers(self._table),
            catalog=Catalog(self._table),
            runs=runs,
            slots=Slots(self._table, writes, runs, clock=clock, settle=settle),
            turns=Turns(self._table),
            logs=Logs(self._table, clock=clock, retention=retention),
        )

    @property
    def table_name(self) -> str:
        return self._table.name
