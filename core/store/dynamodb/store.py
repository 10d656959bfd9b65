"""``DynamoStore``: the ``core.ports.Store`` port on one DynamoDB table."""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import NotFound
from core.models import WorkPool
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
        self._pool_ids: dict[str, str] = {}  # pool name -> id, as last read (see get_pool)
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

    def get_pool(self, name: str) -> WorkPool:
        """The pool called ``name``: by the id it had when last read, if it still has that name.

        A name is a claim item pointing at the pool's id, so reading a pool by
        name takes two reads.  The claim and the pool's document are created,
        moved (rename) and deleted in one transaction each, so a strongly read
        document that still carries ``name`` proves the claim still points at
        it: the remembered id saves the claim's read (one request and one read
        unit per API request or dispatch pass naming a pool in a warm Lambda).
        A pool renamed, deleted or replaced since is read by its name again.
        """
        pool_id = self._pool_ids.get(name)
        if pool_id is not None:
            try:
                pool = self.get_pool_by_id(pool_id)
            except NotFound:
                pool = None
            if pool is not None and pool.name == name:
                return pool
            self._pool_ids.pop(name, None)
        pool = super().get_pool(name)
        self._pool_ids[name] = pool.id
        return pool
