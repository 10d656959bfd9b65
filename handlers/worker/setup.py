"""Before the first poll: the pool (created if missing) and the queues to serve.

A worker started against a pool that does not exist creates it with its
type's default base job template (the API replaces an empty template by the
type's default), as ``prefect worker start --type`` does.  A worker token
may not create pools, so with one the answer is an error naming the command
that would.  A worker is only for pull pools: push and managed pools are
served by the dispatcher, and a worker there would claim runs it must not.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from core.ports import PoolMode, PoolTypes
from core.rules.pools import unknown_type_message
from handlers.worker.api import WorkerApi
from pushpool.client import ApiError
from pushpool.types import WorkPool

log = logging.getLogger("pushpool.worker")

DEFAULT_TYPE = "process"


class WorkerSetupError(Exception):
    """The worker cannot serve the pool as asked; the message says what to do."""


def ensure_pool(
    client: WorkerApi, pool_name: str, *, pool_type: str | None, types: PoolTypes
) -> WorkPool:
    """The pool as the API shows it, created first if it does not exist."""
    try:
        pool = client.read_pool(pool_name)
    except ApiError as exc:
        if exc.status != 404:
            raise WorkerSetupError(f"cannot read work pool {pool_name!r}: {exc.detail}") from exc
        pool = _create_pool(client, pool_name, pool_type or DEFAULT_TYPE, types)
    if pool_type is not None and pool["type"] != pool_type:
        raise WorkerSetupError(
            f"work pool {pool_name!r} has type {pool['type']!r}, not {pool_type!r}; "
            f"start the worker with --type {pool['type']} (or without --type)"
        )
    mode = types.mode(pool["type"])
    if mode is not PoolMode.PULL:
        raise WorkerSetupError(
            f"work pool {pool_name!r} has type {pool['type']!r}: the dispatcher submits its "
            "runs, so it needs no worker"
        )
    return pool


def _create_pool(client: WorkerApi, name: str, pool_type: str, types: PoolTypes) -> WorkPool:
    if pool_type not in types.known():
        raise WorkerSetupError(unknown_type_message(pool_type, types.known()))
    try:
        pool = client.create_pool(name=name, type=pool_type)
    except ApiError as exc:
        if exc.status == 409:  # another worker created it meanwhile
            return client.read_pool(name)
        if exc.status in (401, 403):
            raise WorkerSetupError(
                f"work pool {name!r} does not exist and this token may not create it ("
                f"{exc.detail}); create it with 'pushpool work-pool create {name} --type "
                f"{pool_type}', or start the worker once with an admin token"
            ) from exc
        raise WorkerSetupError(f"cannot create work pool {name!r}: {exc.detail}") from exc
    log.info("created work pool %r (type %s) with its default base job template", name, pool_type)
    return pool


def ensure_queues(client: WorkerApi, pool_name: str, queue_names: Sequence[str]) -> None:
    """Create the named queues that are missing (admins only; else say how)."""
    for queue in queue_names:
        try:
            client.read_queue(pool_name, queue)
            continue
        except ApiError as exc:
            if exc.status != 404:
                raise WorkerSetupError(f"cannot read work queue {queue!r}: {exc.detail}") from exc
        try:
            client.create_queue(pool_name, name=queue)
        except ApiError as exc:
            if exc.status == 409:
                continue
            if exc.status in (401, 403):
                raise WorkerSetupError(
                    f"work queue {queue!r} does not exist in work pool {pool_name!r} and this "
                    f"token may not create it; create it with 'pushpool work-queue create "
                    f"{queue} --pool {pool_name}'"
                ) from exc
            raise WorkerSetupError(f"cannot create work queue {queue!r}: {exc.detail}") from exc
        log.info("created work queue %r in work pool %r", queue, pool_name)
