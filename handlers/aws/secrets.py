"""Secrets Manager (the provider families' credentials), read once per cold start.

The environment names secrets (ARN or name), never holds their values; a
function reads each value the first time it needs it and keeps it for the
life of the process, so a warm invocation makes no Secrets Manager call.
A rotated secret is picked up by the next cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from core.errors import InfrastructureError, PushpoolError, Transient

ClientFactory = Callable[[], Any]


def default_client() -> Any:
    import boto3  # noqa: PLC0415 - imported on first use, not at cold start

    return boto3.client("secretsmanager")


class Secrets:
    """Values of Secrets Manager secrets, cached by id."""

    def __init__(self, client_factory: ClientFactory = default_client) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def value(self, secret_id: str) -> str:
        """The secret's current string value; errors say which secret and why."""
        with self._lock:
            if secret_id not in self._values:
                self._values[secret_id] = self._read(secret_id)
            return self._values[secret_id]

    def _read(self, secret_id: str) -> str:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        if self._client is None:
            self._client = self._client_factory()
        try:
            answer = self._client.get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            raise _translated(secret_id, exc) from exc
        except BotoCoreError as exc:
            raise Transient(f"Secrets Manager did not answer for {secret_id}: {exc}") from exc
        value = answer.get("SecretString")
        if not value:
            raise InfrastructureError(
                f"secret {secret_id} has no string value yet: put one with "
                f"'aws secretsmanager put-secret-value --secret-id {secret_id} --secret-string ...'",
                retryable=False,
            )
        return str(value)


def _translated(secret_id: str, exc: Any) -> PushpoolError:
    error = (getattr(exc, "response", None) or {}).get("Error") or {}
    code = str(error.get("Code") or "")
    if code in ("ThrottlingException", "InternalServiceError"):
        return Transient(f"Secrets Manager is throttling or failing for {secret_id} ({code})")
    if code == "ResourceNotFoundException":
        detail = f"secret {secret_id} does not exist (or has no value yet) in this region"
    elif code in ("AccessDeniedException", "AccessDenied"):
        detail = (
            f"this function may not read secret {secret_id}: grant secretsmanager:GetSecretValue"
        )
    else:
        detail = f"secret {secret_id} cannot be read ({code}: {error.get('Message', '')})"
    return InfrastructureError(detail, retryable=False)
