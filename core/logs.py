"""Run log lines: what a flow run printed, kept beside the run for people to read.

A line is named by a *key* that sorts in time order and is derived from the
line itself (timestamp, source, sequence number, text), so shipping the same
batch twice — a worker retrying after a lost answer — stores it once.  The
key is also the reading cursor: ``read_logs(after=key)`` continues exactly
after the last line seen, which is what ``flow-run logs --follow`` and the
UI's panel poll with.

Both stores keep lines under the same contract (``core.ports.LogStore``):
SQLite caps them per run and in total, DynamoDB expires them by TTL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

MAX_MESSAGE_CHARS = 4000
"""Longer lines are cut by whoever ships them (one DynamoDB item stays ~4 KB at most)."""
MAX_NAME_CHARS = 200
MAX_BATCH_LINES = 500
"""Lines per ``POST /logs/`` (a Lambda request body stays well under its 6 MB)."""
MAX_READ_LINES = 1000

MAX_SEQ = 2**53  # what a JSON number holds exactly
INFO = 20


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text whose string order is time order, for years 1..9999.

    ``strftime('%Y')`` is not fixed-width for years before 1000 on every
    platform, so the year is formatted by hand.
    """
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def parse_stamp(text: str) -> datetime:
    year, rest = text.split("-", 1)  # parsed in leap year 2000, so 29 February parses too
    parsed = datetime.strptime(f"2000-{rest}", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return parsed.replace(year=int(year))


class LogLine(BaseModel):
    """One line of a run's output or of what pushpool said about the run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flow_run_id: str = Field(min_length=1, max_length=200)
    timestamp: AwareDatetime
    level: int = Field(default=INFO, ge=0, le=100)
    name: str = Field(default="pushpool.flow_run", max_length=MAX_NAME_CHARS)
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    key: str

    @property
    def id(self) -> str:
        """A stable id for API answers (Prefect's logs carry one)."""
        return hashlib.sha256(f"{self.flow_run_id}\0{self.key}".encode()).hexdigest()[:32]


def new_line(
    *,
    flow_run_id: str,
    timestamp: datetime,
    message: str,
    level: int = INFO,
    name: str = "pushpool.flow_run",
    seq: int = 0,
) -> LogLine:
    """A line with its key: ``<stamp>#<seq>#<digest of source, level and text>``.

    ``seq`` orders lines stamped in the same microsecond (a burst read from a
    pipe) and tells identical ones apart; the shipper numbers its lines, a
    client posting by hand may leave it at 0.
    """
    if not 0 <= seq <= MAX_SEQ:
        raise ValueError(f"seq must be between 0 and {MAX_SEQ}")
    digest = hashlib.sha256(f"{name}\0{level}\0{message}".encode()).hexdigest()[:16]
    return LogLine(
        flow_run_id=flow_run_id,
        timestamp=timestamp,
        level=level,
        name=name,
        message=message,
        key=f"{stamp(timestamp)}#{seq:016d}#{digest}",
    )


def cursor_at(moment: datetime) -> str:
    """The cursor that reads lines stamped at or after ``moment``."""
    return stamp(moment)


def truncate(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut to ``limit`` characters, saying how much was cut."""
    if len(message) <= limit:
        return message
    keep = limit - 40  # room for the note, which is always shorter than 40 characters
    return f"{message[:keep]} …[{len(message) - keep} characters cut]"
