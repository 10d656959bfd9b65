"""Log lines and their filter (Prefect's ``LogCreate``, ``Log`` and ``LogFilter``).

pushpool adds one field each way: ``seq`` on a line sent (tells apart
identical lines printed in the same microsecond, so a retried batch is
stored once) and ``key`` on a line read (the cursor: pass the last one seen
as ``after_key`` to continue exactly there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from core.logs import (
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_READ_LINES,
    MAX_SEQ,
    LogLine,
    new_line,
)
from handlers.api.schemas.common import IGNORED, AnyOf, Body, Out


class LogCreate(Body):
    flow_run_id: str = Field(min_length=1, max_length=200)
    timestamp: AwareDatetime
    message: str = Field(max_length=MAX_MESSAGE_CHARS)
    level: int = Field(default=20, ge=0, le=100)
    name: str = Field(default="pushpool.flow_run", max_length=MAX_NAME_CHARS)
    seq: int = Field(default=0, ge=0, le=MAX_SEQ)
    task_run_id: None = Field(default=None, description=IGNORED)
    worker_id: str | None = Field(default=None, description=IGNORED)

    def line(self) -> LogLine:
        return new_line(
            flow_run_id=self.flow_run_id,
            timestamp=self.timestamp,
            message=self.message,
            level=self.level,
            name=self.name,
            seq=self.seq,
        )


class Log(Out):
    id: str
    key: str
    flow_run_id: str
    task_run_id: None = None
    timestamp: datetime
    level: int
    name: str
    message: str

    @classmethod
    def of(cls, line: LogLine) -> Log:
        return cls(
            id=line.id,
            key=line.key,
            flow_run_id=line.flow_run_id,
            timestamp=line.timestamp,
            level=line.level,
            name=line.name,
            message=line.message,
        )


class TimeRange(Body):
    after_: AwareDatetime | None = Field(default=None, description="At or after this time.")
    before_: AwareDatetime | None = Field(default=None, description=IGNORED)


class LogCriteria(Body):
    flow_run_id: AnyOf
    timestamp: TimeRange | None = None


class LogFilter(Body):
    logs: LogCriteria
    after_key: str | None = Field(
        default=None,
        max_length=200,
        description="Continue after the line with this key (the last one read).",
    )
    sort: Literal["TIMESTAMP_ASC", "TIMESTAMP_DESC"] = "TIMESTAMP_ASC"
    limit: int = Field(default=200, ge=0, le=MAX_READ_LINES)
