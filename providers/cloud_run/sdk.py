"""The Google SDK, imported on first use, and what its errors say (``translated``)."""

from __future__ import annotations

import concurrent.futures
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace
from typing import Any

from core.errors import InfrastructureError
from providers.shared import retryable_http_status

_SDK_MODULES = {
    "run_v2": "google.cloud.run_v2",
    "exceptions": "google.api_core.exceptions",
    "polling": "google.api_core.future.polling",
    "auth_errors": "google.auth.exceptions",
    "service_account": "google.oauth2.service_account",
    "requests": "requests",
}


@cache
def sdk() -> SimpleNamespace:
    """The Google SDK modules, imported on first use so other pools never load them."""
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _SDK_MODULES.items()})


def api_status(exc: Any) -> str:
    """The ``google.rpc`` status name (``ALREADY_EXISTS``...) of an API error, if given."""
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"].get("status", ""))
    except Exception:  # no JSON body (a proxy's HTML page, a gRPC error): no status name
        code = getattr(exc, "grpc_status_code", None)
        return code.name if code is not None else ""


def api_message(exc: Any) -> str:
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"]["message"])
    except Exception:  # see api_status
        return str(getattr(exc, "message", exc))


RETRYABLE_STATUSES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL"})


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn SDK, auth and transport errors into ``InfrastructureError``, honestly classified."""
    exceptions, auth_errors, requests = sdk().exceptions, sdk().auth_errors, sdk().requests
    try:
        yield
    except InfrastructureError:
        raise
    except exceptions.GoogleAPICallError as exc:
        code = exc.code if isinstance(exc.code, int) else None
        retryable = retryable_http_status(code) or api_status(exc) in RETRYABLE_STATUSES
        detail = f"Cloud Run: could not {action}: {api_message(exc)}"
        raise InfrastructureError(detail, retryable=retryable) from exc
    except (exceptions.RetryError, concurrent.futures.TimeoutError) as exc:
        raise InfrastructureError(f"timed out trying to {action}", retryable=True) from exc
    except (requests.exceptions.RequestException, auth_errors.TransportError) as exc:
        raise InfrastructureError(
            f"network error trying to {action}: {exc}", retryable=True
        ) from exc
    except auth_errors.GoogleAuthError as exc:
        raise InfrastructureError(
            f"Google credentials were rejected trying to {action}: {exc}", retryable=False
        ) from exc
