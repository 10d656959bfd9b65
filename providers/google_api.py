"""What the Google providers (Cloud Run, Vertex AI) share about Google's APIs.

Label syntax, reading a ``google.rpc.Status`` out of an API error, and
turning SDK, auth and transport errors into ``InfrastructureError`` with an
honest ``retryable``.  The Google SDK is imported on first use (inside
``translated``), never when this module is imported, so an ECS dispatcher
importing ``providers`` does not load it (design §1).
"""

from __future__ import annotations

import concurrent.futures
import importlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import InfrastructureError
from providers.shared import retryable_http_status

RETRYABLE_STATUSES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL"})

_LABEL_CHARS = re.compile(r"[^a-z0-9_-]")


def gcp_label(text: str, *, key: bool = False) -> str:
    """Text as a Google Cloud label key or value (lowercase, ``[a-z0-9_-]``, ≤ 63)."""
    cleaned = _LABEL_CHARS.sub("_", text.lower())[:63]
    if key and not cleaned[:1].isalpha():
        cleaned = f"l_{cleaned}"[:63]
    return cleaned


def _error_body(exc: Any) -> dict[str, Any] | None:
    """The ``error`` object of the API's JSON answer; None without one (a proxy's HTML
    page, a gRPC error, no response at all)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    try:
        error = response.json()["error"]
    except Exception:  # not JSON, or JSON without an error object
        return None
    return error if isinstance(error, dict) else None


def api_status(exc: Any) -> str:
    """The ``google.rpc`` status name (``ALREADY_EXISTS``...) of an API error, if given."""
    body = _error_body(exc)
    if body is not None:
        return str(body.get("status", ""))
    code = getattr(exc, "grpc_status_code", None)
    return code.name if code is not None else ""


def api_message(exc: Any) -> str:
    body = _error_body(exc)
    if body is not None and "message" in body:
        return str(body["message"])
    return str(getattr(exc, "message", exc))


@contextmanager
def translated(service: str, action: str) -> Iterator[None]:
    """Turn SDK, auth and transport errors into ``InfrastructureError``, honestly classified.

    ``service`` names the API in messages ("Cloud Run: could not ...").
    """
    exceptions = importlib.import_module("google.api_core.exceptions")
    auth_errors = importlib.import_module("google.auth.exceptions")
    requests = importlib.import_module("requests")
    try:
        yield
    except InfrastructureError:
        raise
    except exceptions.GoogleAPICallError as exc:
        code = exc.code if isinstance(exc.code, int) else None
        retryable = retryable_http_status(code) or api_status(exc) in RETRYABLE_STATUSES
        detail = f"{service}: could not {action}: {api_message(exc)}"
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
