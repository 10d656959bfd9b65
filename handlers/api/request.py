"""Per-request access to the container and the caller, for route functions.

``handlers.api.app.handle`` sets both before resolving and clears them after;
route functions call ``ctx()`` / ``caller()`` instead of reaching for globals.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response, content_types

from core.services.auth import Principal
from core.services.context import Context
from handlers.bootstrap import Container


@dataclass(frozen=True)
class RequestScope:
    container: Container
    principal: Principal


T = TypeVar("T")

_scope: ContextVar[RequestScope] = ContextVar("pushpool_request_scope")


@contextmanager
def request_scope(container: Container, principal: Principal) -> Iterator[None]:
    token = _scope.set(RequestScope(container=container, principal=principal))
    try:
        yield
    finally:
        _scope.reset(token)


def container() -> Container:
    return _scope.get().container


def ctx() -> Context:
    return _scope.get().container.context


def caller() -> Principal:
    return _scope.get().principal


def name(raw: str) -> str:
    """A path segment as the user wrote it (API Gateway passes it encoded)."""
    return unquote(raw)


def reply(status: int, body: T) -> Response[T]:
    """A JSON answer with an explicit status (201 on create, 200 on upsert)."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def no_content() -> Response[None]:
    return Response(status_code=204, body=None)
