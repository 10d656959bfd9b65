"""An ECS task's output, read from the CloudWatch Logs stream ``awslogs`` writes.

The ``awslogs`` driver names a task's stream ``<prefix>/<container>/<task id>``,
and the task id is part of the run's infrastructure id, so the stream is
derived from the run (through its attempt's task) without registering a
task definition per run: the prefix itself stays static, as task
definitions are shared by content (see ``taskdef.py``).

Where a task logs is read once from its task definition and cached by task
ARN.  A task whose containers do not use ``awslogs`` has no lines here.  The
cursor is CloudWatch's ``nextForwardToken``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import LogChunk, OutputLine
from providers.ecs.errors import translate
from providers.ecs.ids import parse_infra_id
from providers.ecs.taskdef import DEFAULT_LOG_GROUP

PAGE_LINES = 1000
NO_LOGS = "none"


class EcsLogReader:
    """Reads tasks' ``awslogs`` streams (``logs:GetLogEvents``)."""

    def __init__(
        self,
        ecs_client: Any,
        *,
        logs_client: Callable[[], Any],
        cache: Any,
        aws_errors: tuple[type[Exception], ...],
    ) -> None:
        self._ecs = ecs_client
        self._logs = logs_client
        self._cache = cache
        self._aws_errors = aws_errors

    def read(self, infra_id: str, *, after: str | None) -> LogChunk:
        cluster, task_arn = parse_infra_id(infra_id)
        where = self.stream_of(cluster, task_arn)
        if where is None:
            return LogChunk(cursor=after)
        request: dict[str, Any] = {
            "logGroupName": where["group"],
            "logStreamName": where["stream"],
            "startFromHead": True,
            "limit": PAGE_LINES,
        }
        if after:
            request["nextToken"] = after
        try:
            page = self._logs().get_log_events(**request)
        except self._aws_errors as exc:
            if _code(exc) == "ResourceNotFoundException":
                return LogChunk(cursor=after)  # the task has not written its first line yet
            raise translate(exc, action="GetLogEvents") from exc
        lines = tuple(
            OutputLine(
                timestamp=datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC),
                message=str(event.get("message", "")),
            )
            for event in page.get("events", [])
        )
        return LogChunk(lines=lines, cursor=page.get("nextForwardToken") or after)

    def stream_of(self, cluster: str, task_arn: str) -> dict[str, str] | None:
        """``{"group", "stream"}`` of the task's first ``awslogs`` container, or None."""
        key = f"ecs:logstream:{task_arn}"
        cached = self._cache.get_cached(key)
        if cached is not None:
            return None if cached == NO_LOGS else dict(json.loads(cached))
        try:
            tasks = self._ecs.describe_tasks(cluster=cluster, tasks=[task_arn]).get("tasks") or []
            if not tasks:
                return None  # not found yet or gone: decide on a later read
            definition = self._ecs.describe_task_definition(
                taskDefinition=tasks[0]["taskDefinitionArn"]
            )["taskDefinition"]
        except self._aws_errors as exc:
            raise translate(exc, action="DescribeTasks", cluster=cluster) from exc
        where = _awslogs_stream(definition, task_arn)
        self._cache.put_cached(key, json.dumps(where) if where else NO_LOGS)
        return where


def ensure_log_group(
    definition: dict[str, Any], logs_client: Any, aws_errors: tuple[type[Exception], ...]
) -> None:
    """Create the ``pushpool`` group a definition logs to without ``awslogs-create-group``.

    ``awslogs-create-group`` makes the execution role call ``CreateLogGroup``
    on every task start, even when the group exists, and the role AWS suggests
    (``AmazonECSTaskExecutionRolePolicy``) may not; so for the default
    (``configure_cloudwatch_logs`` unset) pushpool creates the group once,
    before registering the definition, and the task only writes to it.
    """
    for container in definition.get("containerDefinitions") or []:
        config = container.get("logConfiguration") or {}
        options = config.get("options") or {}
        if (
            config.get("logDriver") != "awslogs"
            or options.get("awslogs-group") != DEFAULT_LOG_GROUP
            or options.get("awslogs-create-group") == "true"
        ):
            continue
        try:
            logs_client().create_log_group(logGroupName=DEFAULT_LOG_GROUP)
        except aws_errors as exc:
            code = _code(exc)
            if code == "ResourceAlreadyExistsException":
                return
            if code in {"AccessDeniedException", "AccessDenied"}:
                raise InfrastructureError(
                    f"pushpool may not create the CloudWatch log group {DEFAULT_LOG_GROUP!r} "
                    "its tasks log to: allow logs:CreateLogGroup on it, create it, or set "
                    "configure_cloudwatch_logs to false",
                    retryable=False,
                ) from exc
            raise translate(exc, action="CreateLogGroup") from exc
        return


def _awslogs_stream(definition: dict[str, Any], task_arn: str) -> dict[str, str] | None:
    for container in definition.get("containerDefinitions") or []:
        config = container.get("logConfiguration") or {}
        options = config.get("options") or {}
        if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
            continue
        task_id = task_arn.rsplit("/", 1)[-1]
        prefix = options.get("awslogs-stream-prefix")
        if not prefix:
            raise InfrastructureError(
                f"container {container.get('name')!r} logs to CloudWatch without "
                "awslogs-stream-prefix, so its stream cannot be found from the task",
                retryable=False,
            )
        return {
            "group": str(options["awslogs-group"]),
            "stream": f"{prefix}/{container['name']}/{task_id}",
        }
    return None


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
