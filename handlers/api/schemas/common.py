"""Pieces shared by the request and response bodies."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

# Stable ids for objects pushpool keys by name (workers, schedules, states):
# Prefect clients expect a UUID there, and the same object must keep its id.
_NAMESPACE = uuid.UUID("0b5c3f7e-3c1a-4b43-9d51-7075736870a1")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, ":".join(parts)))


class Body(BaseModel):
    """A request body: unknown fields are an error that names the field."""

    model_config = ConfigDict(extra="forbid")


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


def null_only(reason: str) -> Any:
    """A Prefect field for a feature pushpool does not have: null passes (Prefect's
    client sends every field), anything else is refused with ``reason`` rather
    than silently dropped."""
    return Annotated[Any, AfterValidator(functools.partial(_null_only, reason=reason))]


# Ignoring a filter would answer with objects the caller excluded.
Unfiltered = null_only("pushpool does not filter on this; send null or leave it out")
NoBlocks = null_only("pushpool has no blocks; send null (use job_variables and entrypoint)")


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


IGNORED = "Accepted for compatibility with Prefect clients; ignored."
# Limits and priorities: Prefect keeps them in 32-bit columns; larger values
# overflowed SQLite's INTEGER into a 500 (found driving Prefect's CLI, issue 18).
MAX_COUNT = 2**31 - 1
LIMIT_MAX = 1000


class Page(Body):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=200, ge=0, le=LIMIT_MAX)

    @field_validator("offset", "limit", mode="before")
    @classmethod
    def _null_is_the_default(cls, value: Any, info: Any) -> Any:
        """Prefect's client sends ``"limit": null`` for 'no limit given'."""
        if value is None:
            return cls.model_fields[info.field_name].default
        return value
