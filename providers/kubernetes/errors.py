"""API statuses and transport errors -> ``InfrastructureError`` (retryable or not).

urllib3 (the official client's transport) is imported on first use, never at
module import.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Iterator

from core.errors import InfrastructureError
from providers.shared import retryable_http_status


class ApiError(Exception):
    """A request the API server answered outside 2xx, with the server's own message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @classmethod
    def from_response(cls, status: int, data: bytes, reason: str | None) -> ApiError:
        """The ``message`` of the ``v1.Status`` body, else the body's text, else the reason."""
        try:
            return cls(status, str(json.loads(data)["message"]))
        except (TypeError, ValueError, KeyError):
            text = data.decode(errors="replace").strip()[:300] if data else ""
            return cls(status, text or reason or "no message")


class ApiStatus(Exception):
    """An API error status the caller asked to handle itself."""


@contextlib.contextmanager
def translated(action: str, *, let_through: tuple[int, ...] = ()) -> Iterator[None]:
    """Turn API and transport errors into ``InfrastructureError``.

    429 and 5xx can pass with a retry, as can a server that cannot be
    reached; other statuses (invalid manifest, forbidden, missing namespace)
    and a server certificate that is not trusted cannot.  Statuses in ``let_through`` become ``ApiStatus`` for the caller.
    """
    from urllib3.exceptions import HTTPError  # noqa: PLC0415

    try:
        yield
    except ApiError as exc:
        if exc.status in let_through:
            raise ApiStatus(exc.status) from exc
        raise InfrastructureError(
            f"kubernetes: {action} failed ({exc.status}): {exc.message}",
            retryable=retryable_http_status(exc.status),
        ) from exc
    except HTTPError as exc:
        untrusted = _untrusted_certificate(exc)
        if untrusted is not None:
            raise InfrastructureError(
                f"kubernetes: {action} failed: the API server's certificate is not trusted "
                f"({untrusted.verify_message}); set the cluster's certificate-authority "
                "in the kubeconfig",
                retryable=False,
            ) from exc
        raise InfrastructureError(f"kubernetes: {action} failed: {exc}", retryable=True) from exc


def _untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The verification failure behind a transport error: retrying cannot fix it."""
    inner = getattr(exc, "reason", None) or exc  # urllib3 wraps it in MaxRetryError
    for candidate in (inner, *getattr(inner, "args", ())):
        if isinstance(candidate, ssl.SSLCertVerificationError):
            return candidate
    return None
