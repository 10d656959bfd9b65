"""AWS errors -> ``InfrastructureError`` with an honest ``retryable`` and a
message that tells the user what to change.

Retryable: throttling, 5xx, network trouble and transient lack of capacity —
the dispatcher retries with back-off and, since the same ``clientToken`` is
sent again, a retry can never start a second task.  Terminal: everything
that needs a person (a missing cluster, a bad subnet, a missing permission,
an inactive task definition, an invalid spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError

RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
RETRYABLE_MESSAGES = (
    "too many concurrent attempts",  # RegisterTaskDefinition on one family at once
    "rate exceeded",
)
_TERMINAL_BOTOCORE = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "NoRegionError", "ParamValidationError"}
)


def translate(exc: Exception, *, action: str, cluster: str | None = None) -> InfrastructureError:
    """The ``InfrastructureError`` for a botocore exception raised by ``action``."""
    from botocore.exceptions import ClientError, HTTPClientError  # noqa: PLC0415 - SDK imported lazily

    if isinstance(exc, ClientError):
        return _client_error(exc.response, action=action, cluster=cluster)
    name = type(exc).__name__
    if isinstance(exc, HTTPClientError):
        return InfrastructureError(
            f"ECS {action} did not answer ({exc}); the retry sends the same clientToken, "
            "so at most one task starts",
            retryable=True,
        )
    if name in _TERMINAL_BOTOCORE:
        return InfrastructureError(
            f"ECS {action} cannot be sent: {exc}. Check the AWS credentials, region and "
            "the job's ECS settings",
            retryable=False,
        )
    return InfrastructureError(f"ECS {action} failed: {exc}", retryable=True)


def _client_error(
    response: Mapping[str, Any], *, action: str, cluster: str | None
) -> InfrastructureError:
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    message = str(error.get("Message") or "")
    http_status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    lowered = message.lower()
    said = f"({code}: {message})"
    if (
        code in RETRYABLE_CODES
        or http_status >= 500
        or any(m in lowered for m in RETRYABLE_MESSAGES)
    ):
        return InfrastructureError(
            f"ECS {action} is throttled or unavailable {said}", retryable=True
        )
    if code == "ClusterNotFoundException":
        detail = (
            f"ECS cluster {cluster or 'default'!r} does not exist in this account and region: "
            f"create it or set the pool's `cluster` job variable {said}"
        )
    elif code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
        detail = (
            f"pushpool's role may not call {action}: grant ecs:{action}, ecs:TagResource and "
            f"iam:PassRole on the task and execution roles {said}"
        )
    elif "inactive" in lowered:
        detail = (
            "the task definition is INACTIVE (deregistered): register a new revision or point "
            f"`task_definition_arn` at an active one {said}"
        )
    elif "subnet" in lowered or "security group" in lowered or "vpc" in lowered:
        detail = (
            "the network configuration is invalid: check that the subnets and security "
            f"groups in `network_configuration` (or `vpc_id`) exist in this region {said}"
        )
    elif "no container instances" in lowered:
        detail = (
            f"cluster {cluster or 'default'!r} has no EC2 container instances: add capacity "
            f"or use launch_type FARGATE {said}"
        )
    else:
        detail = f"ECS rejected {action}: fix the pool's job template or job variables {said}"
    return InfrastructureError(detail, retryable=False)


def from_failures(failures: list[Mapping[str, Any]], *, cluster: str | None) -> InfrastructureError:
    """RunTask answered 200 but placed no task: its ``failures`` explain why.

    A lack of capacity (``RESOURCE:*``, Fargate "Capacity is unavailable", a
    disconnected agent, the concurrent-task limit) can clear as other tasks
    stop, so it is retryable; the rest needs a change to the pool.
    """
    failure = failures[0] if failures else {}
    reason = str(failure.get("reason") or "unknown")
    detail = str(failure.get("detail") or "")
    said = f"({reason}{': ' + detail if detail else ''})"
    where = f"cluster {cluster or 'default'!r}"
    lowered = reason.lower()
    if reason.startswith("RESOURCE:") or "capacity is unavailable" in lowered:
        return InfrastructureError(
            f"no capacity in {where} to place the task {said}: waiting runs are retried; "
            "add capacity or lower cpu/memory if this persists",
            retryable=True,
        )
    if reason == "AGENT" or "reached the limit" in lowered:
        return InfrastructureError(
            f"{where} cannot take the task right now {said}; retrying", retryable=True
        )
    if reason == "MISSING":
        return InfrastructureError(
            f"{where} or its resources were not found {said}: check the `cluster` job variable",
            retryable=False,
        )
    if reason == "ATTRIBUTE":
        return InfrastructureError(
            f"no container instance in {where} has the attributes the task requires {said}: "
            "check placementConstraints and requiresCompatibilities",
            retryable=False,
        )
    return InfrastructureError(f"ECS could not place the task in {where} {said}", retryable=False)
