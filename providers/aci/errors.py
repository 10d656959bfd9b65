"""Azure SDK errors -> ``InfrastructureError``, with ARM's own message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import InfrastructureError
from providers.aci.sdk import sdk
from providers.shared import retryable_http_status


def error_message(exc: Any) -> str:
    """ARM's ``code: message`` of an SDK error, else the exception's text."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "message", None):
        return f"{error.code}: {error.message}" if error.code else str(error.message)
    return str(getattr(exc, "message", exc))


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn Azure SDK errors into ``InfrastructureError``, honestly classified."""
    errors = sdk().errors
    try:
        yield
    except InfrastructureError:
        raise
    except errors.ClientAuthenticationError as exc:
        raise InfrastructureError(
            f"Azure rejected the credentials trying to {action}: {error_message(exc)}",
            retryable=False,
        ) from exc
    except errors.HttpResponseError as exc:
        retry_after = exc.response.headers.get("Retry-After") if exc.response else None
        hint = f" (retry after {retry_after} s)" if retry_after else ""
        raise InfrastructureError(
            f"Azure could not {action}: {error_message(exc)}{hint}",
            retryable=retryable_http_status(exc.status_code),
        ) from exc
    except (errors.ServiceRequestError, errors.ServiceResponseError) as exc:
        raise InfrastructureError(
            f"network error trying to {action}: {exc}", retryable=True
        ) from exc
