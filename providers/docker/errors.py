"""Docker SDK errors -> ``InfrastructureError`` (retryable or not).

The SDK is imported on first use, never at module import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from core.errors import InfrastructureError
from providers.shared import retryable_http_status


def docker_errors() -> Any:
    """The SDK's errors module, imported on first use like the rest of the SDK."""
    import docker.errors  # noqa: PLC0415

    return docker.errors


@contextlib.contextmanager
def translated(action: str, *, let_through: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn Docker SDK and transport errors into ``InfrastructureError``.

    Throttling, server errors and connection problems can pass with a retry;
    other API errors (bad spec, missing image, permission) cannot.  Errors in
    ``let_through`` reach the caller untranslated, for it to handle.
    """
    import requests  # noqa: PLC0415

    errors = docker_errors()

    try:
        yield
    except let_through:
        raise
    except errors.APIError as exc:
        raise InfrastructureError(
            f"docker: {action} failed ({exc.status_code}): {exc.explanation or exc}",
            retryable=retryable_http_status(exc.status_code),
        ) from exc
    except (errors.DockerException, requests.exceptions.RequestException) as exc:
        raise InfrastructureError(f"docker: {action} failed: {exc}", retryable=True) from exc
