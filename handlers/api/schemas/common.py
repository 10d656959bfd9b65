"""Pieces shared by the request and response bodies."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    field_validator,
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


class Operator(Body):
    """Prefect's filters say how their conditions combine; pushpool's always all hold."""

    operator: Literal["and_"] = Field(
        default="and_", description="Prefect's combinator; only and_ (every condition holds)."
    )


def _null_only(value: Any, *, reason: str) -> None:
    if value is not None:
        raise ValueError(reason)


def null_only(reason: str) -> AfterValidator:
    """For a Prefect field of a feature pushpool does not have: null passes (Prefect's
    client sends every field), anything else is refused with ``reason`` rather
    than silently dropped.  Use as ``Annotated[Any, null_only(reason)]``."""
    return AfterValidator(functools.partial(_null_only, reason=reason))


# Ignoring a filter would answer with objects the caller excluded.
Unfiltered = Annotated[
    Any, null_only("pushpool does not filter on this; send null or leave it out")
]
NoBlocks = Annotated[
    Any, null_only("pushpool has no blocks; send null (use job_variables and entrypoint)")
]


class AnyOf(Body):
    """Prefect's value filter; of its operators pushpool matches ``any_``."""

    any_: list[str] | None = Field(default=None, description="Match any of these values.")
    like_: Unfiltered = None
    not_any_: Unfiltered = None
    is_null_: Unfiltered = None
    startswith_: Unfiltered = None


class Detail(BaseModel):
    """Every error answer: what went wrong and what to fix."""

    detail: Any


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
# Limits and priorities: Prefect keeps them in 32-bit columns; larger values
# overflowed SQLite's INTEGER into a 500 (found driving Prefect's CLI, issue 18).
MAX_COUNT = 2**31 - 1
LIMIT_MAX = 1000
# Counts, limits and priorities are strict JSON integers too ("3" and true are
# refused, as a YAML or shell typo would send them; issue 14).
Count = Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)]
Positive = Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)]


class Page(Body):
    offset: Count = 0
    limit: Annotated[StrictInt, Field(ge=0, le=LIMIT_MAX)] = 200

    @field_validator("offset", "limit", mode="before")
    @classmethod
    def _null_is_the_default(cls, value: Any, info: Any) -> Any:
        """Prefect's client sends ``"limit": null`` for 'no limit given'."""
        if value is None:
            return cls.model_fields[info.field_name].default
        return value
