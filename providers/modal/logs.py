"""A Modal function call's or sandbox's output, read from Modal's log store.

Modal keeps what a call or a sandbox's entrypoint printed and answers time
ranges of it (the SDK's ``FunctionCall.logs.fetch`` / ``Sandbox.logs.fetch``,
``AppFetchLogs`` underneath, filtered by call id or by the sandbox's task).
A range query has no continuation token, so the cursor is the timestamp of
the last line returned and how many lines at exactly that timestamp were
returned: the next read starts at that timestamp and skips those.

Reads stop ``SETTLE`` short of now, so a line Modal stores a moment after a
later-stamped one is still read; the first read looks back ``LOOKBACK`` and
no read spans more (Modal refuses ranges over 35 days).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from core.errors import InfrastructureError
from core.ports import LogChunk, OutputLine
from providers.modal.seam import ModalClient, OutputEntry

PAGE_LINES = 1000
LOOKBACK = timedelta(days=30)
SETTLE = timedelta(seconds=3)


def read_output(
    client: ModalClient, infra_id: str, *, after: str | None, now: datetime
) -> LogChunk:
    since, seen = parse_cursor(after) if after else (now - LOOKBACK, 0)
    until = min(now - SETTLE, since + LOOKBACK)  # a cursor read weeks later goes on in steps
    if until <= since:
        return LogChunk(cursor=after)
    entries = client.read_output(infra_id, since=since, until=until, limit=PAGE_LINES + seen)
    fresh = _after_seen(entries, since, seen)
    if not fresh:
        if until < now - SETTLE:  # an empty stretch of a long gap: go on after it
            return LogChunk(cursor=f"{until.isoformat()}|0")
        return LogChunk(cursor=after)
    last = fresh[-1].timestamp
    at_last = sum(1 for entry in entries if entry.timestamp == last)
    lines = tuple(
        OutputLine(timestamp=entry.timestamp, message=text)
        for entry in fresh
        for text in entry.message.splitlines()
        if text.strip()
    )
    return LogChunk(lines=lines, cursor=f"{last.isoformat()}|{at_last}")


def _after_seen(entries: list[OutputEntry], since: datetime, seen: int) -> list[OutputEntry]:
    """``entries`` without the first ``seen`` stamped exactly ``since`` (the last read's tail)."""
    fresh = []
    for entry in entries:
        if seen and entry.timestamp == since:
            seen -= 1
            continue
        fresh.append(entry)
    return fresh


def parse_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        stamp, count = cursor.rsplit("|", 1)
        moment = datetime.fromisoformat(stamp)
        seen = int(count)
    except ValueError as exc:
        raise InfrastructureError(f"not a Modal log cursor: {cursor!r}", retryable=False) from exc
    if moment.tzinfo is None or seen < 0:
        raise InfrastructureError(f"not a Modal log cursor: {cursor!r}", retryable=False)
    return moment, seen
