"""Kubernetes client and transport errors -> ``InfrastructureError`` (retryable or not).

The client is imported on first use, never at module import.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from core.errors import InfrastructureError
from providers.shared import retryable_http_status


class ApiStatus(Exception):
    """An API error status the caller asked to handle itself."""


@contextlib.contextmanager
def translated(action: str, *, let_through: tuple[int, ...] = ()) -> Iterator[None]:
    """Turn client and transport errors into ``InfrastructureError``.

    429 and 5xx can pass with a retry, as can a server that cannot be
    reached; other statuses (invalid manifest, forbidden, missing namespace)
    cannot.  Statuses in ``let_through`` become ``ApiStatus`` for the caller.
    """
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    try:
        yield
    except ApiException as exc:
        code = exc.status
        if code in let_through:
            raise ApiStatus(code) from exc
        raise InfrastructureError(
            f"kubernetes: {action} failed ({code}): {_message(exc)}",
            retryable=retryable_http_status(code),
        ) from exc
    except HTTPError as exc:
        raise InfrastructureError(f"kubernetes: {action} failed: {exc}", retryable=True) from exc


def _message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(exc.reason or exc)
