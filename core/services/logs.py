"""Run logs: who may write and read a run's lines, and how a read is bounded.

Lines arrive in batches (``POST /logs/``) from a pull worker shipping its
runs' output, from a run reporting with its own token, or from the cloud's
log readers; every run a batch names must exist and the caller must be
allowed to act on it, else nothing of the batch is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.errors import InvalidInput
from core.logs import MAX_BATCH_LINES, MAX_READ_LINES, LogLine
from core.models import FlowRun
from core.ports import LogSource, LogStore
from core.services.context import Context
from core.services.log_sync import push_pool_type, sync_logs

Authorize = Callable[[FlowRun], None]
"""Raises ``Forbidden`` unless the caller may act on the run."""

SourceOf = Callable[[str], LogSource | None]
"""The log source of a pool type's provider, if it has one."""


def write_logs(
    context: Context, logs: LogStore, lines: Sequence[LogLine], *, authorize: Authorize
) -> int:
    """Store ``lines`` once every run they name is known and allowed; returns the count."""
    if len(lines) > MAX_BATCH_LINES:
        raise InvalidInput(
            f"a batch holds at most {MAX_BATCH_LINES} log lines, this one {len(lines)}; "
            "send it in several requests"
        )
    for run_id in dict.fromkeys(line.flow_run_id for line in lines):
        authorize(context.store.get_run(run_id))
    logs.append_logs(lines)
    return len(lines)


def read_logs(
    context: Context,
    logs: LogStore,
    run_id: str,
    *,
    authorize: Authorize,
    after: str | None = None,
    limit: int = 200,
    newest_first: bool = False,
    source_of: SourceOf | None = None,
) -> list[LogLine]:
    """Up to ``limit`` lines of a run after the cursor ``after`` (see ``LogStore``).

    A push run's new lines are first copied from its provider (``source_of``);
    a failing source raises ``InfrastructureError`` after nothing was read.
    """
    if not 0 <= limit <= MAX_READ_LINES:
        raise InvalidInput(f"limit must be between 0 and {MAX_READ_LINES}", path="limit")
    run = context.store.get_run(run_id)
    authorize(run)
    pool_type = push_pool_type(context, run) if source_of is not None else None
    source = source_of(pool_type) if source_of is not None and pool_type else None
    if source is not None:
        sync_logs(context, logs, run, source)
    return logs.read_logs(run_id, after=after, limit=limit, newest_first=newest_first)
