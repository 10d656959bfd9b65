"""Copying a push run's output from its provider's log source into the store.

Pull runs' output is shipped by their worker.  A push run has no worker: its
lines stay where the infrastructure wrote them (CloudWatch Logs, Cloud
Logging, ...) until someone reads the run's logs; then the new ones are
copied into the store, so they are read (and kept, and expire) exactly
like shipped lines.  The provider's cursor and the lines' sequence number are
kept in the store's cache per (run, attempt), and the lines are numbered from
it: two readers syncing at once write the same keys, so nothing doubles.
"""

from __future__ import annotations

import json
from datetime import datetime

from core.logs import LogLine, new_line, truncate
from core.models import FlowRun
from core.ports import LogChunk, LogSource, LogStore, PoolMode
from core.services.context import Context

MAX_PAGES = 5
"""Provider pages copied per read, so a read stays quick; the next read continues."""
SOURCE_NAME = "pushpool.flow_run.output"
WARNING = 30


def push_pool_type(context: Context, run: FlowRun) -> str | None:
    """The pool type of a submitted push or managed run, else None: a pull
    run's worker ships its lines itself, and an unsubmitted run has none."""
    if not run.infrastructure_pid:
        return None
    pool_type = context.store.get_pool_by_id(run.work_pool_id).type
    return pool_type if context.types.mode(pool_type) is not PoolMode.PULL else None


def sync_logs(context: Context, logs: LogStore, run: FlowRun, source: LogSource) -> int:
    """Copy what the provider has after the last sync; returns how many lines."""
    if not run.infrastructure_pid:
        return 0
    key = f"logsync:{run.id}:{run.attempt}"
    cursor, seq = _load(context.store.get_cached(key))
    copied = 0
    for _ in range(MAX_PAGES):
        chunk = source.read_logs(run.infrastructure_pid, after=cursor)
        lines = _numbered(context, run, chunk, first=seq + 1)
        if not lines:
            break
        logs.append_logs(lines)
        cursor, seq = chunk.cursor, seq + len(lines)
        context.store.put_cached(key, json.dumps({"cursor": cursor, "seq": seq}))
        copied += len(lines)
    return copied


def _load(saved: str | None) -> tuple[str | None, int]:
    state = json.loads(saved) if saved else {}
    cursor = state.get("cursor")
    return (str(cursor) if cursor is not None else None), int(state.get("seq") or 0)


def _numbered(context: Context, run: FlowRun, chunk: LogChunk, *, first: int) -> list[LogLine]:
    found: list[tuple[datetime, str, int]] = []
    if chunk.dropped:
        note = f"[pushpool] {chunk.dropped} line(s) expired at the source before they were read"
        found.append((context.clock(), note, WARNING))
    found.extend((line.timestamp, line.message, line.level) for line in chunk.lines)
    return [
        new_line(
            flow_run_id=run.id, timestamp=at, message=truncate(message), level=level,
            name=SOURCE_NAME, seq=first + i,
        )
        for i, (at, message, level) in enumerate(found)
    ]  # fmt: skip
