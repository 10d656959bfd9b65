"""``EcsProvider``: sends what ``build_request`` planned and reads task state.

Exactly one task per claim: RunTask carries a ``clientToken`` derived from
``(run id, attempt)``; if ECS reports the token already used with other
parameters, the run's existing task is found through ``startedBy``/``group``
instead of starting another.  Task definitions are registered once per
content hash: the ARN is cached through the ``ArnCache`` port (the Store
satisfies it), and after a cache loss the hash-named family is looked up
before anything is registered.  Registration is retried with back-off when
throttled (ECS allows roughly one registration per second).
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable
from typing import Any, Protocol

from core.errors import InfrastructureError, PushpoolError
from core.models import JSON
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.ecs.errors import from_failures, translate
from providers.ecs.ids import client_token, infra_id, parse_group, parse_infra_id
from providers.ecs.logs import EcsLogReader, ensure_log_group
from providers.ecs.request import DEFAULT_VPC, EcsRequest, EcsSettings, build_request
from providers.ecs.status import task_status
from providers.ecs.taskdef import HASH_TAG

CANCEL_REASON = "Cancelled through pushpool"
REGISTRATION_ATTEMPTS = 5
REGISTRATION_MAX_DELAY = 8.0


class ArnCache(Protocol):
    """A small key -> value cache; ``core.ports.Store`` satisfies it."""

    def get_cached(self, key: str) -> str | None: ...
    def put_cached(self, key: str, value: str) -> None: ...


class MemoryCache:
    """Process-local ``ArnCache`` for when no store is wired (a pull worker)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_cached(self, key: str) -> str | None:
        return self.values.get(key)

    def put_cached(self, key: str, value: str) -> None:
        self.values[key] = value


class EcsProvider:
    """The ``core.ports.Provider`` for ``ecs``, ``ecs:push`` and ``managed`` pools."""

    emits_events = True
    supports_polling = True
    supports_logs = True  # the task's awslogs stream (providers/ecs/logs.py)

    def __init__(
        self,
        ecs_client: Any,
        *,
        cache: ArnCache | None = None,
        settings: EcsSettings | None = None,
        ec2_client: Any = None,
        ec2_factory: Callable[[], Any] | None = None,
        logs_client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings = settings or EcsSettings()
        if settings.region is None:
            region = getattr(getattr(ecs_client, "meta", None), "region_name", None)
            settings = settings.model_copy(update={"region": region})
        self._ecs = ecs_client
        self._cache: ArnCache = cache if cache is not None else MemoryCache()
        self.settings = settings
        self._ec2 = ec2_client
        self._ec2_factory = ec2_factory
        self._sleep = sleep
        self._networks: dict[str, JSON] = {}
        self._aws_errors = _aws_errors()
        self._logs_client = logs_client
        self._log_reader = EcsLogReader(
            ecs_client,
            logs_client=self._cloudwatch_logs,
            cache=self._cache,
            aws_errors=self._aws_errors,
        )

    # -- Provider -------------------------------------------------------------------

    def build_request(self, job: Job) -> EcsRequest:
        return build_request(job, self.settings)

    def submit(self, request: Any, *, idempotency_key: str) -> str:
        """Start the task for one claim (or find the one already started)."""
        request = _as_request(request)
        cluster = request.run_task.get("cluster")
        arguments = self._run_task_arguments(request, idempotency_key)
        try:
            response = self._ecs.run_task(**arguments)
        except self._aws_errors as exc:
            error = self._translated(exc, action="RunTask", cluster=cluster)
            if _is_token_conflict(exc):
                return self._existing_task(request, cluster=cluster, error=error)
            if _is_inactive(exc) and request.task_definition is not None:
                arguments["taskDefinition"] = self._register_fresh(request)
                return self._run_again(arguments, cluster=cluster)
            raise error from exc
        return _started(response, cluster=cluster)

    def status(self, infra_id: str) -> InfraStatus:
        cluster, task_arn = parse_infra_id(infra_id)
        task = self._describe_task(cluster, task_arn)
        if task is None:
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"ECS task {task_arn} vanished (not found in cluster {cluster})",
            )
        return task_status(task)

    def cancel(self, infra_id: str) -> None:
        """Stop the task; nothing to do if it already stopped or is gone."""
        cluster, task_arn = parse_infra_id(infra_id)
        task = self._describe_task(cluster, task_arn)
        if task is None or task.get("lastStatus") == "STOPPED":
            return
        try:
            self._ecs.stop_task(cluster=cluster, task=task_arn, reason=CANCEL_REASON)
        except self._aws_errors as exc:
            error = self._translated(exc, action="StopTask", cluster=cluster)
            if "not found" in str(exc).lower() and not error.retryable:
                return
            raise error from exc

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        """The task's output from CloudWatch Logs, after ``after`` (a forward token)."""
        return self._log_reader.read(infra_id, after=after)

    def _cloudwatch_logs(self) -> Any:
        if self._logs_client is None:
            import boto3  # noqa: PLC0415 - SDK imported lazily

            self._logs_client = boto3.client("logs", region_name=self.settings.region)
        return self._logs_client

    # -- task definitions --------------------------------------------------------------

    def task_definition_arn(self, request: EcsRequest) -> str:
        """The ARN to run: given, cached, found by its hashed family, or registered."""
        if request.task_definition_arn:
            return request.task_definition_arn
        if request.task_definition is None or request.task_definition_hash is None:
            raise InfrastructureError("the ECS request names no task definition", retryable=False)
        key = self._cache_key(request.task_definition_hash)
        cached = self._cache.get_cached(key)
        if cached:
            return cached
        arn = self._find_registered(request) or self._register(request)
        self._remember(key, arn)
        return arn

    def _register_fresh(self, request: EcsRequest) -> str:
        """Replace a cached ARN that was deregistered behind our back."""
        assert request.task_definition_hash is not None
        arn = self._find_registered(request) or self._register(request)
        self._remember(self._cache_key(request.task_definition_hash), arn)
        return arn

    def _cache_key(self, digest: str) -> str:
        return f"ecs:task-definition:{self.settings.region or 'default'}:{digest}"

    def _remember(self, key: str, arn: str) -> None:
        # Only an optimisation: after a failed write the hashed family finds the ARN.
        with contextlib.suppress(PushpoolError):
            self._cache.put_cached(key, arn)

    def _find_registered(self, request: EcsRequest) -> str | None:
        """The active revision of the hashed family, if its hash tag matches."""
        assert request.task_definition is not None
        try:
            found = self._ecs.describe_task_definition(
                taskDefinition=request.task_definition["family"], include=["TAGS"]
            )
        except self._aws_errors as exc:
            error = self._translated(exc, action="DescribeTaskDefinition")
            if _error_code(exc) == "ClientException" and not error.retryable:
                return None  # no such family yet
            raise error from exc
        definition = found.get("taskDefinition") or {}
        tags = {tag.get("key"): tag.get("value") for tag in found.get("tags") or []}
        if (
            definition.get("status") == "ACTIVE"
            and tags.get(HASH_TAG) == request.task_definition_hash
        ):
            return str(definition["taskDefinitionArn"])
        return None

    def _register(self, request: EcsRequest) -> str:
        """RegisterTaskDefinition, backing off while ECS throttles it."""
        assert request.task_definition is not None and request.task_definition_hash is not None
        body = copy.deepcopy(request.task_definition)
        ensure_log_group(body, self._cloudwatch_logs, self._aws_errors)
        body["tags"] = [
            *body.get("tags", []),
            {"key": HASH_TAG, "value": request.task_definition_hash},
        ]
        for attempt in range(REGISTRATION_ATTEMPTS):
            try:
                registered = self._ecs.register_task_definition(**body)
                return str(registered["taskDefinition"]["taskDefinitionArn"])
            except self._aws_errors as exc:
                error = self._translated(exc, action="RegisterTaskDefinition")
                if not error.retryable or attempt == REGISTRATION_ATTEMPTS - 1:
                    raise error from exc
                self._sleep(min(2.0**attempt, REGISTRATION_MAX_DELAY))
        raise AssertionError("unreachable")

    # -- RunTask helpers -------------------------------------------------------------------

    def _run_task_arguments(self, request: EcsRequest, idempotency_key: str) -> JSON:
        arn = self.task_definition_arn(request)
        arguments = copy.deepcopy(request.run_task)
        arguments["taskDefinition"] = arn
        arguments["clientToken"] = client_token(idempotency_key)
        if request.subnets_of_vpc is not None:
            arguments["networkConfiguration"] = self.network_of(request.subnets_of_vpc)
        if request.container_name is None:
            overrides = arguments.setdefault("overrides", {}).setdefault("containerOverrides", [{}])
            overrides[0]["name"] = self._container_of(arn)
        return arguments

    def _run_again(self, arguments: JSON, *, cluster: str | None) -> str:
        try:
            response = self._ecs.run_task(**arguments)
        except self._aws_errors as exc:
            raise self._translated(exc, action="RunTask", cluster=cluster) from exc
        return _started(response, cluster=cluster)

    def _existing_task(
        self, request: EcsRequest, *, cluster: str | None, error: InfrastructureError
    ) -> str:
        """The task an earlier RunTask with this token started (found by the
        run's ``startedBy`` and its ``group``), else the original error."""
        started_by = request.run_task.get("startedBy")
        group = request.run_task.get("group")
        if not started_by or parse_group(group) is None:
            raise error
        scope = {"cluster": cluster} if cluster else {}
        for desired in ("RUNNING", "STOPPED"):
            try:
                listed = self._ecs.list_tasks(startedBy=started_by, desiredStatus=desired, **scope)
                arns = list(listed.get("taskArns") or [])
                tasks = self._ecs.describe_tasks(tasks=arns, **scope)["tasks"] if arns else []
            except self._aws_errors as exc:
                raise self._translated(exc, action="ListTasks", cluster=cluster) from exc
            for task in tasks:
                if task.get("group") == group:
                    return infra_id(task["clusterArn"], task["taskArn"])
        raise InfrastructureError(f"{error.detail}; no task of this run was found", retryable=True)

    def _container_of(self, arn: str) -> str:
        """The first container of a given task definition (revision ARNs cached)."""
        key = f"ecs:container:{arn}"
        cached = self._cache.get_cached(key) if arn.rsplit(":", 1)[-1].isdigit() else None
        if cached:
            return cached
        try:
            found = self._ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        except self._aws_errors as exc:
            raise self._translated(exc, action="DescribeTaskDefinition") from exc
        if found.get("status") == "INACTIVE":
            raise InfrastructureError(
                f"task definition {arn} is INACTIVE: register a new revision or point "
                "`task_definition_arn` at an active one",
                retryable=False,
            )
        name = str(found["containerDefinitions"][0]["name"])
        if arn.rsplit(":", 1)[-1].isdigit():
            self._remember(key, name)
        return name

    def network_of(self, vpc: str) -> JSON:
        """awsvpc settings for a VPC: all its subnets and its default security
        group; a public IP when the subnets assign one (else images cannot be
        pulled without a NAT gateway)."""
        if vpc in self._networks:
            return self._networks[vpc]
        ec2 = self._ec2_client()
        try:
            vpc_id = vpc if vpc != DEFAULT_VPC else _default_vpc(ec2)
            vpc_filter = [{"Name": "vpc-id", "Values": [vpc_id]}]
            subnets = ec2.describe_subnets(Filters=vpc_filter)["Subnets"]
            groups = ec2.describe_security_groups(
                Filters=[*vpc_filter, {"Name": "group-name", "Values": ["default"]}]
            )["SecurityGroups"]
        except self._aws_errors as exc:
            raise self._translated(exc, action="DescribeSubnets") from exc
        if not subnets:
            raise InfrastructureError(
                f"VPC {vpc_id} has no subnets: set `network_configuration` or another `vpc_id`",
                retryable=False,
            )
        awsvpc: JSON = {
            "subnets": sorted(subnet["SubnetId"] for subnet in subnets),
            "securityGroups": [group["GroupId"] for group in groups],
            "assignPublicIp": "ENABLED"
            if all(subnet.get("MapPublicIpOnLaunch") for subnet in subnets)
            else "DISABLED",
        }
        self._networks[vpc] = {"awsvpcConfiguration": awsvpc}
        return self._networks[vpc]

    def _ec2_client(self) -> Any:
        if self._ec2 is None:
            if self._ec2_factory is not None:
                self._ec2 = self._ec2_factory()
            else:
                import boto3  # noqa: PLC0415 - SDK imported lazily

                self._ec2 = boto3.client("ec2", region_name=self.settings.region)
        return self._ec2

    def _describe_task(self, cluster: str, task_arn: str) -> JSON | None:
        try:
            response = self._ecs.describe_tasks(cluster=cluster, tasks=[task_arn])
        except self._aws_errors as exc:
            if _error_code(exc) == "ClusterNotFoundException":
                return None  # the cluster, and so the task, is gone
            raise self._translated(exc, action="DescribeTasks", cluster=cluster) from exc
        tasks = response.get("tasks") or []
        return dict(tasks[0]) if tasks else None

    @staticmethod
    def _translated(
        exc: Exception, *, action: str, cluster: str | None = None
    ) -> InfrastructureError:
        return translate(exc, action=action, cluster=cluster)


def _aws_errors() -> tuple[type[Exception], ...]:
    """botocore's exception bases, imported when a provider is built."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - SDK imported lazily

    return (BotoCoreError, ClientError)


def _as_request(request: Any) -> EcsRequest:
    if isinstance(request, EcsRequest):
        return request
    if isinstance(request, dict):
        return EcsRequest.model_validate(request)
    raise TypeError(f"EcsProvider.submit needs an EcsRequest, got {type(request).__name__}")


def _started(response: JSON, *, cluster: str | None) -> str:
    tasks = response.get("tasks") or []
    if tasks:
        return infra_id(str(tasks[0]["clusterArn"]), str(tasks[0]["taskArn"]))
    failures = response.get("failures") or []
    if failures:
        raise from_failures(failures, cluster=cluster)
    raise InfrastructureError("ECS RunTask returned neither a task nor a failure", retryable=True)


def _default_vpc(ec2: Any) -> str:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise InfrastructureError(
            "this region has no default VPC: set `network_configuration` (subnets) or `vpc_id`",
            retryable=False,
        )
    return str(vpcs[0]["VpcId"])


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code") or "")


def _is_token_conflict(exc: Exception) -> bool:
    return _error_code(exc) == "ConflictException"


def _is_inactive(exc: Exception) -> bool:
    return _error_code(exc) in ("InvalidParameterException", "ClientException") and (
        "inactive" in str(exc).lower()
    )
