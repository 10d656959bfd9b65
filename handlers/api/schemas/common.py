"""Pieces shared by the request and response bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.errors import unknown_key

# Stable ids for objects pushpool keys by name (workers, schedules, states):
# Prefect clients expect a UUID there, and the same object must keep its id.
_NAMESPACE = uuid.UUID("0b5c3f7e-3c1a-4b43-9d51-7075736870a1")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


class Body(BaseModel):
    """A request body: an unknown field is an error that names it and the
    nearest field there is."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    message = unknown_key(key, cls.model_fields)
                    raise PydanticCustomError(
                        "unknown_key", "{message}", {"message": message, "key": key}
                    )
        return data


class Out(BaseModel):
    """A response body."""

    model_config = ConfigDict(extra="allow")


class AnyOf(Body):
    any_: list[str] | None = Field(default=None, description="Match any of these values.")


class Detail(BaseModel):
    """Every error answer: what went wrong and what to fix."""

    detail: Any


# Counts, limits and priorities: strict JSON integers ("3" and true are refused,
# as a YAML or shell typo would send them) within a 32-bit range that both
# stores hold exactly (SQLite's INTEGER is 64-bit, and the slot counters add).
INT_MAX = 2**31 - 1
Count = Annotated[StrictInt, Field(ge=0, le=INT_MAX)]
Positive = Annotated[StrictInt, Field(ge=1, le=INT_MAX)]

# A moment a client sends: with a zone (a naive time is ambiguous and cannot
# be compared with the store's UTC times) and inside a range that UTC
# conversion and the scheduler's arithmetic (look-ahead, lateness) can hold.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(moment: datetime) -> datetime:
    reason = f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)"
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(reason) from exc
    if not EARLIEST <= utc < LATEST:
        raise ValueError(reason)
    return moment


Instant = Annotated[
    AwareDatetime,
    AfterValidator(_in_range),
    Field(description="ISO 8601 with a zone, between 1900 and 9000."),
]

IGNORED = "Accepted for compatibility with Prefect clients; ignored."
LIMIT_MAX = 1000


class Page(Body):
    offset: Count = 0
    limit: Annotated[StrictInt, Field(ge=0, le=LIMIT_MAX)] = 200
