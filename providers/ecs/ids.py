"""How an ECS task is named, found and matched back to its flow run.

ECS gives us three free-text handles on a task and we use each for one job:

* ``clientToken`` (RunTask): derived from the claim's idempotency key
  ``(run id, attempt)``, so a retried RunTask returns the task the first call
  started instead of starting a second one (ECS keeps tokens 24 h per cluster).
* ``group`` = ``pushpool:<run id>:<attempt>``: EventBridge "ECS Task State
  Change" events carry no tags, but they do carry ``group``; the
  infra-events handler matches a task to its run and attempt by it.
* ``startedBy`` = ``pushpool/<run id>``: lets ``ListTasks`` find every task
  of a run (ECS filters on it server-side), used to recover a task whose
  RunTask answer was lost.

The infrastructure id is ``<cluster ARN>|<task ARN>``: ``DescribeTasks`` and
``StopTask`` need both, and old-format task ARNs do not contain the cluster.
"""

from __future__ import annotations

import hashlib
import re

from core.errors import InfrastructureError

INFRA_ID_SEPARATOR = "|"
GROUP_PREFIX = "pushpool:"
STARTED_BY_PREFIX = "pushpool/"
CLIENT_TOKEN_MAX = 64
STARTED_BY_MAX = 128
GROUP_MAX = 255

_STARTED_BY_CHARS = re.compile(r"^[A-Za-z0-9_/-]+$")


def client_token(idempotency_key: str) -> str:
    """The RunTask ``clientToken`` for a claim: the key itself when ECS accepts
    it (<= 64 printable ASCII characters), else its SHA-256 (64 hex digits)."""
    printable = all(33 <= ord(char) <= 126 for char in idempotency_key)
    if idempotency_key and printable and len(idempotency_key) <= CLIENT_TOKEN_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def started_by(run_id: str) -> str | None:
    """``startedBy`` for the run's tasks, or None when the run id has characters
    ECS does not allow there (the group still identifies the task)."""
    value = f"{STARTED_BY_PREFIX}{run_id}"
    if len(value) <= STARTED_BY_MAX and _STARTED_BY_CHARS.match(value):
        return value
    return None


def task_group(run_id: str, attempt: int) -> str:
    """The task ``group`` that names the run and attempt a task belongs to."""
    group = f"{GROUP_PREFIX}{run_id}:{attempt}"
    if len(group) > GROUP_MAX:
        raise InfrastructureError(
            f"run id {run_id[:40]!r}... is too long to label an ECS task", retryable=False
        )
    return group


def parse_group(group: str | None) -> tuple[str, int] | None:
    """``(run id, attempt)`` from a task group written by ``task_group``."""
    if not group or not group.startswith(GROUP_PREFIX):
        return None
    run_id, _, attempt = group[len(GROUP_PREFIX) :].rpartition(":")
    if not run_id or not attempt.isdigit():
        return None
    return run_id, int(attempt)


def infra_id(cluster_arn: str, task_arn: str) -> str:
    return f"{cluster_arn}{INFRA_ID_SEPARATOR}{task_arn}"


def parse_infra_id(value: str) -> tuple[str, str]:
    """``(cluster, task ARN)`` from an infrastructure id.

    A bare new-format task ARN (``...:task/<cluster>/<id>``) is accepted too,
    so ids recorded by hand or by other tools still resolve.
    """
    cluster, separator, task = value.partition(INFRA_ID_SEPARATOR)
    if separator and cluster and task:
        return cluster, task
    resource = value.rsplit(":", 1)[-1] if value.startswith("arn:") else ""
    parts = resource.split("/")
    if len(parts) == 3 and parts[0] == "task":
        return parts[1], value
    raise InfrastructureError(
        f"{value!r} is not an ECS infrastructure id (expected '<cluster ARN>|<task ARN>')",
        retryable=False,
    )
