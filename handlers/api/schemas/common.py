"""Pieces shared by the request and response bodies."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class AnyOf(Body):
    any_: list[str] | None = Field(default=None, description="Match any of these values.")


class Detail(BaseModel):
    """Every error answer: what went wrong and what to fix."""

    detail: Any


IGNORED = "Accepted for compatibility with Prefect clients; ignored."
LIMIT_MAX = 1000


class Page(Body):
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=200, ge=0, le=LIMIT_MAX)
