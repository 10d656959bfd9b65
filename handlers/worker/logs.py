"""Shipping the output of the worker's runs to the API, in bounded batches.

Three bounded stages, so nothing ever blocks a run and memory stays flat:

1. the provider drains the infrastructure's output into its own ring
   (``providers.shared.OutputRing`` for a subprocess);
2. each ``tick`` this shipper reads what is new, runs it has started, into a
   buffer of at most ``max_buffered`` lines; when the buffer is full it stops
   reading (back-pressure onto the provider's ring, which keeps the newest
   lines and counts what it dropped);
3. it posts the buffer to ``POST /logs/`` a run at a time, in batches of at
   most ``batch_lines`` lines and ``batch_bytes`` bytes.

While the API is unreachable (or answers 5xx/429) batches stay in the buffer
and are retried with back-off, so a short outage loses nothing.  A long one
fills the buffer and then the provider's ring; the lines that fell out are
replaced by one line saying how many were dropped.  A batch the API refuses
for good (the run was deleted, the token may not write it) is dropped with
one warning per run, never a warning per batch.

After a run leaves the worker's ledger its infrastructure is read once more,
so the last lines printed before the exit are shipped too.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.logs import MAX_BATCH_LINES
from core.ports import Clock, LogChunk, LogSource, Provider, log_source
from handlers.worker.api import WorkerApi
from handlers.worker.ledger import Ledger
from pushpool.client import ApiError

log = logging.getLogger("pushpool.worker.logs")

SOURCE_NAME = "pushpool.flow_run.output"
WARNING = 30
MAX_BACKOFF_SECONDS = 30.0


@dataclass
class _Source:
    """One started run whose output is being read."""

    run_id: str
    infra_id: str
    cursor: str | None = None
    seq: int = 0  # numbers this worker's lines of the run: a retried batch is stored once
    refused: bool = False  # the API refused this run's lines, or its source failed for good
    failing: bool = False  # the last read failed (warned once)


@dataclass(frozen=True)
class ShipperSettings:
    interval_seconds: float = 1.0
    max_buffered: int = 10_000
    batch_lines: int = 200
    batch_bytes: int = 256 * 1024
    final_flush_seconds: float = 5.0


class LogShipper:
    """Reads started runs' output from the provider and posts it to the API."""

    def __init__(
        self,
        client: WorkerApi,
        *,
        provider: Callable[[], Provider],
        ledger: Ledger,
        clock: Clock,
        settings: ShipperSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._provider = provider
        self._ledger = ledger
        self._clock = clock
        self.settings = settings or ShipperSettings()
        self._monotonic = monotonic
        self._sources: dict[str, _Source] = {}
        self._buffer: deque[dict[str, Any]] = deque()
        self._failures = 0
        self._retry_at = 0.0

    # -- the loop -------------------------------------------------------------------
    def run(self, stopped: threading.Event) -> None:
        """Ship every ``interval_seconds`` until ``stopped``; then flush what is left,
        for at most ``final_flush_seconds``."""
        while not stopped.wait(self.settings.interval_seconds):
            self.tick()
        deadline = self._monotonic() + self.settings.final_flush_seconds
        while self._monotonic() < deadline:
            self._retry_at = 0.0
            self.tick()
            if not self._buffer and not self._sources:
                return
            time.sleep(min(0.2, self.settings.interval_seconds))
        if self._buffer:
            log.warning("%d log line(s) not shipped: the API did not take them", len(self._buffer))

    def tick(self) -> None:
        """One pass: read what is new, then post what is buffered."""
        try:
            self.collect()
        except Exception:  # one bad read must not stop shipping the others
            log.exception("reading run output failed; retrying on the next pass")
        self.ship()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # -- reading --------------------------------------------------------------------
    def collect(self) -> None:
        source = log_source(self._provider())
        if source is None:
            return
        started = {e.run_id: e.infra_id for e in self._ledger.started() if e.infra_id}
        for run_id, infra_id in started.items():
            known = self._sources.get(run_id)
            if known is None or known.infra_id != infra_id:
                self._sources[run_id] = _Source(run_id=run_id, infra_id=infra_id)
        for run_id, item in list(self._sources.items()):
            if self.settings.max_buffered - len(self._buffer) <= 0:
                return  # back-pressure: the provider's ring holds the rest
            if item.refused:
                if run_id not in started:
                    del self._sources[run_id]
                continue
            chunk = self._read(source, item)
            if chunk is None:
                if run_id not in started:
                    del self._sources[run_id]  # ended, and its source cannot be read
                continue
            self._take(item, chunk)
            if run_id not in started and not chunk.lines:
                del self._sources[run_id]  # ended, and its last lines are read

    def _read(self, source: LogSource, item: _Source) -> LogChunk | None:
        """One read; a failing source is one warning per run, not one per pass.

        A terminal error (a missing permission or credential) stops reading that
        run; a retryable one is tried again on the next pass.
        """
        try:
            chunk = source.read_logs(item.infra_id, after=item.cursor)
        except InfrastructureError as exc:
            if not item.failing:
                log.warning("cannot read the output of run %s: %s", item.run_id, exc.detail)
            item.failing = True
            item.refused = not exc.retryable
            return None
        item.failing = False
        return chunk

    def _take(self, item: _Source, chunk: LogChunk) -> None:
        if chunk.dropped:
            self._append(item, self._clock(), _dropped_note(chunk.dropped), WARNING)
        numbered = chunk.cursor is not None and chunk.cursor.isdigit()
        room = max(self.settings.max_buffered - len(self._buffer), 0)
        # A numbered cursor can stop part-way: what did not fit is read again next
        # pass.  An opaque one (a cloud log token) cannot, so its chunk is taken whole.
        taken = chunk.lines[:room] if numbered else chunk.lines
        for line in taken:
            self._append(item, line.timestamp, line.message, line.level)
        if numbered and len(taken) < len(chunk.lines):
            item.cursor = str(int(str(chunk.cursor)) - (len(chunk.lines) - len(taken)))
        else:
            item.cursor = chunk.cursor

    def _append(self, item: _Source, at: Any, message: str, level: int) -> None:
        item.seq += 1
        self._buffer.append(
            {
                "flow_run_id": item.run_id,
                "timestamp": at.isoformat(),
                "message": message,
                "level": level,
                "name": SOURCE_NAME,
                "seq": item.seq,
            }
        )

    # -- posting ----------------------------------------------------------------------
    def ship(self) -> None:
        """Post buffered lines, a run and a bounded batch at a time, oldest first."""
        while self._buffer and self._monotonic() >= self._retry_at:
            batch = self._next_batch()
            try:
                self._client.write_logs(batch)
            except ApiError as exc:
                if _retryable(exc):
                    self._back_off(exc)
                    return
                self._refuse(batch[0]["flow_run_id"], exc)
            else:
                self._failures = 0
            for _ in batch:
                self._buffer.popleft()

    def _next_batch(self) -> list[dict[str, Any]]:
        run_id = self._buffer[0]["flow_run_id"]
        batch: list[dict[str, Any]] = []
        size = 2
        limit = min(self.settings.batch_lines, MAX_BATCH_LINES)
        for line in self._buffer:
            cost = len(json.dumps(line)) + 1
            if line["flow_run_id"] != run_id or len(batch) == limit:
                break
            if batch and size + cost > self.settings.batch_bytes:
                break
            batch.append(line)
            size += cost
        return batch

    def _back_off(self, exc: ApiError) -> None:
        self._failures += 1
        delay = min(self.settings.interval_seconds * 2**self._failures, MAX_BACKOFF_SECONDS)
        self._retry_at = self._monotonic() + delay
        if self._failures == 1:  # one line per outage, not one per retry
            log.warning(
                "shipping run logs failed (%s); keeping %d line(s) and retrying",
                exc.detail,
                len(self._buffer),
            )

    def _refuse(self, run_id: str, exc: ApiError) -> None:
        source = self._sources.get(run_id)
        if source is None or not source.refused:
            log.warning("the API refused the log lines of run %s: %s", run_id, exc.detail)
        if source is not None:
            source.refused = True


def _retryable(exc: ApiError) -> bool:
    return exc.status in {0, 429} or exc.status >= 500


def _dropped_note(count: int) -> str:
    return (
        f"[pushpool] {count} line(s) of output were dropped here: the worker could not ship "
        "them to the API fast enough and its buffers were full"
    )
