"""Google Cloud Run jobs (Admin API v2) as infrastructure for push and hybrid pools.

One flow-run attempt is one Cloud Run *job* whose id is derived from
``(run id, attempt)``, and one *execution* of it.  Creating a job that
exists answers 409, so a repeated submit finds the job instead of making a
second; before running it, the executions already labelled with the run and
attempt are looked up and reused, so a retried dispatch does not start the
flow twice.  Cloud Run sends no events to AWS: the tick polls ``status``,
which reads the execution's conditions and, on failure, its tasks' exit
codes.  The job is deleted once its execution is terminal unless the pool
sets ``keep_job``.

The SDK is imported by ``make_provider`` (``sdk.py``), never at import time,
so dispatching to another provider never loads it (design §1); ``status.py``
maps an execution to ``InfraStatus``.  Only this ``__init__`` imports
``providers.shared``: the independence contract in pyproject.toml allows
``providers.* -> providers.shared`` for the package, not its submodules.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.cloud_run.sdk import api_message, api_status, sdk
from providers.cloud_run.status import FAILED, SUCCEEDED, execution_status
from providers.shared import (
    TerminalMemo,
    command_list,
    dns_name,
    flag,
    retryable_http_status,
    string_map,
)

log = logging.getLogger(__name__)

RUN_LABEL = "pushpool-run-id"
ATTEMPT_LABEL = "pushpool-attempt"
KEEP_LABEL = "pushpool-keep-job"
DEFAULT_REGION = "us-central1"  # Prefect's cloud-run-v2 default
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
RETRYABLE_STATUSES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL"})

_LABEL_CHARS = re.compile(r"[^a-z0-9_-]")


def gcp_label(text: str, *, key: bool = False) -> str:
    """Text as a Google Cloud label key or value (lowercase, ``[a-z0-9_-]``, ≤ 63)."""
    cleaned = _LABEL_CHARS.sub("_", text.lower())[:63]
    if key and not cleaned[:1].isalpha():
        cleaned = f"l_{cleaned}"[:63]
    return cleaned


@dataclass(frozen=True)
class CloudRunRequest:
    """What ``submit`` sends: where, the ``run_v2.Job`` body, and cleanup policy."""

    parent: str  # projects/{project}/locations/{region}
    job: Any  # google.cloud.run_v2.Job
    keep_job: bool


# -- build_request: configuration -> run_v2.Job (pure) -------------------------------------


def _drop_nulls(value: Any) -> Any:
    """Remove nulls, and objects left empty by removing them."""
    if isinstance(value, dict):
        cleaned = {k: _drop_nulls(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v != {}}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _prefect_job_body(config: Mapping[str, Any]) -> dict[str, Any]:
    """A Prefect-style ``job_body`` (REST JSON), tidied so the proto parser accepts it.

    Prefect's cloud-run-v2 template renders ``timeout`` as a number and leaves
    unset placeholders as nulls; the REST schema wants ``"600s"`` and absence.
    """
    body = _drop_nulls(copy.deepcopy(config.get("job_body") or {}))
    task = body.setdefault("template", {}).setdefault("template", {})
    timeout = str(task.pop("timeout", "")).removesuffix("s")
    if timeout:  # "600", 600 or "600s"; "" or "s" when the variable was unset
        task["timeout"] = f"{int(float(timeout))}s"
    for container in task.get("containers") or []:
        if isinstance(container.get("command"), str):
            container["command"] = command_list(container["command"])
        if not container.get("env"):
            container.pop("env", None)
    return body


def _labels(job: Job, config: Mapping[str, Any], keep_job: bool) -> dict[str, str]:
    labels = {
        gcp_label(k, key=True): gcp_label(v)
        for k, v in string_map(config.get("labels"), what="labels").items()
    }
    return labels | {
        RUN_LABEL: gcp_label(job.run_id),
        ATTEMPT_LABEL: str(job.attempt),
        KEEP_LABEL: "true" if keep_job else "false",
    }


def _container(config: Mapping[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    container = dict(base)
    if config.get("image"):
        container["image"] = config["image"]
    if config.get("command"):
        container["command"] = command_list(config["command"])
    if config.get("args"):
        container["args"] = command_list(config["args"])
    env = {e["name"]: e for e in container.get("env", []) if "name" in e}
    for name, value in string_map(config.get("env"), what="env").items():
        env[name] = {"name": name, "value": value}
    if env:
        container["env"] = [env[name] for name in sorted(env)]
    limits = dict((container.get("resources") or {}).get("limits") or {})
    for key in ("cpu", "memory"):
        if config.get(key):
            limits[key] = str(config[key])
    if limits:
        container["resources"] = {**(container.get("resources") or {}), "limits": limits}
    return container


def build_job_body(
    job: Job, *, default_project: str | None = None
) -> tuple[str, dict[str, Any], bool]:
    """The parent path, the REST ``Job`` body and ``keep_job`` for one attempt."""
    config = job.configuration
    project = config.get("project") or default_project
    region = config.get("region") or DEFAULT_REGION
    if not project:
        raise InfrastructureError(
            "cloud-run job configuration needs 'project' (or a service-account key naming one)",
            retryable=False,
        )
    keep_job = flag(config.get("keep_job", False))
    body = _prefect_job_body(config)
    execution = body.setdefault("template", {})
    task = execution.setdefault("template", {})
    containers = task.get("containers") or [{}]
    task["containers"] = [_container(config, containers[0]), *containers[1:]]
    if config.get("timeout") is not None:
        task["timeout"] = f"{int(config['timeout'])}s"
    if config.get("max_retries") is not None:
        task["maxRetries"] = int(config["max_retries"])
    if config.get("service_account_name"):
        task["serviceAccount"] = config["service_account_name"]
    if config.get("vpc_connector_name"):
        task["vpcAccess"] = {**task.get("vpcAccess", {}), "connector": config["vpc_connector_name"]}
    labels = _labels(job, config, keep_job)
    body["labels"] = {**body.get("labels", {}), **labels}
    execution["labels"] = {**execution.get("labels", {}), **labels}
    annotations = string_map(config.get("labels"), what="labels")
    body["annotations"] = {**body.get("annotations", {}), **annotations}
    body["annotations"]["pushpool.io/run-name"] = str(config.get("name") or job.run_name)
    if config.get("launch_stage"):
        body["launchStage"] = config["launch_stage"]
    return f"projects/{project}/locations/{region}", body, keep_job


# -- the provider ----------------------------------------------------------------------------


class CloudRunClients:
    """The three v2 clients, built on first use from one set of credentials."""

    def __init__(
        self,
        *,
        credentials: Any = None,
        client_options: Mapping[str, Any] | None = None,
        transport: str = "rest",
    ) -> None:
        self._kwargs = {
            "credentials": credentials,
            "client_options": dict(client_options or {}),
            "transport": transport,
        }

    @cached_property
    def jobs(self) -> Any:
        return sdk().run_v2.JobsClient(**self._kwargs)

    @cached_property
    def executions(self) -> Any:
        return sdk().run_v2.ExecutionsClient(**self._kwargs)

    @cached_property
    def tasks(self) -> Any:
        return sdk().run_v2.TasksClient(**self._kwargs)


class CloudRunProvider:
    """``core.ports.Provider`` for Cloud Run v2 jobs."""

    emits_events = False
    supports_polling = True

    def __init__(
        self,
        clients: CloudRunClients,
        *,
        request_timeout: float = 30.0,
        create_timeout: float = 60.0,
        poll_interval: float = 1.0,
        default_project: str | None = None,
    ) -> None:
        self.clients = clients
        self.default_project = default_project
        self._timeout = request_timeout
        self._create_timeout = create_timeout
        self._poll_interval = poll_interval
        self._memo = TerminalMemo()

    def build_request(self, job: Job) -> CloudRunRequest:
        run_v2 = sdk().run_v2
        parent, body, keep_job = build_job_body(job, default_project=self.default_project)
        try:
            proto = run_v2.Job.from_json(json.dumps(body, sort_keys=True))
        except Exception as exc:  # the proto JSON parser raises ParseError / ValueError
            raise InfrastructureError(
                f"invalid Cloud Run job body: {exc}", retryable=False
            ) from exc
        return CloudRunRequest(parent=parent, job=proto, keep_job=keep_job)

    def submit(self, request: CloudRunRequest, *, idempotency_key: str) -> str:
        job_name = f"{request.parent}/jobs/{dns_name(idempotency_key)}"
        with translated("submit the Cloud Run job"):
            self._ensure_job(request, job_name)
            existing = self._existing_execution(job_name, request.job.labels)
            if existing is not None:
                return existing
            operation = self.clients.jobs.run_job(name=job_name, timeout=self._timeout)
            return str(operation.metadata.name)

    def status(self, infra_id: str) -> InfraStatus:
        remembered = self._memo.get(infra_id)
        if remembered is not None:
            return remembered
        exceptions = sdk().exceptions
        with translated("read the Cloud Run execution"):
            try:
                execution = self.clients.executions.get_execution(
                    name=infra_id, timeout=self._timeout
                )
            except exceptions.NotFound:
                return InfraStatus(
                    phase=InfraPhase.CRASHED,
                    reason=f"Cloud Run execution {infra_id} no longer exists",
                )
            status = execution_status(execution, lambda: self._exit_codes(execution.name))
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        if execution.labels.get(KEEP_LABEL) != "true":
            self._delete_job(infra_id.split("/executions/", maxsplit=1)[0])
        return self._memo.remember(infra_id, status)

    def cancel(self, infra_id: str) -> None:
        exceptions = sdk().exceptions
        with translated("cancel the Cloud Run execution"):
            try:
                self.clients.executions.cancel_execution(name=infra_id, timeout=self._timeout)
            except (exceptions.NotFound, exceptions.FailedPrecondition):
                return  # gone or already finished: nothing left to stop

    # -- steps -------------------------------------------------------------------------------

    def _ensure_job(self, request: CloudRunRequest, job_name: str) -> None:
        """Create the job, or find it if a previous submit did; fail unless it is ready."""
        exceptions = sdk().exceptions
        try:
            operation = self.clients.jobs.create_job(
                parent=request.parent,
                job=request.job,
                job_id=job_name.rsplit("/", 1)[-1],
                timeout=self._timeout,
            )
        except exceptions.Conflict as exc:
            if api_status(exc) not in {"ALREADY_EXISTS", ""}:
                raise
            job = self.clients.jobs.get_job(name=job_name, timeout=self._timeout)
        else:
            polling = (
                sdk()
                .polling.DEFAULT_POLLING.with_delay(
                    initial=self._poll_interval, maximum=self._poll_interval * 4
                )
                .with_timeout(self._create_timeout)
            )
            job = operation.result(timeout=self._create_timeout, polling=polling)
        condition = job.terminal_condition
        if condition.state == FAILED:
            raise InfrastructureError(
                f"Cloud Run job {job_name} is not ready: {condition.message}", retryable=False
            )
        if condition.state != SUCCEEDED:
            raise InfrastructureError(
                f"Cloud Run job {job_name} is still being created; retry shortly",
                retryable=True,
            )

    def _existing_execution(self, job_name: str, labels: Mapping[str, str]) -> str | None:
        """The oldest execution of the job carrying this run's and attempt's labels."""
        mine = [
            execution
            for execution in self.clients.executions.list_executions(
                parent=job_name, timeout=self._timeout
            )
            if all(execution.labels.get(k) == labels[k] for k in (RUN_LABEL, ATTEMPT_LABEL))
        ]
        if not mine:
            return None
        return str(min(mine, key=lambda e: (e.create_time, e.name)).name)

    def _exit_codes(self, execution_name: str) -> list[int]:
        tasks = self.clients.tasks.list_tasks(parent=execution_name, timeout=self._timeout)
        return [task.last_attempt_result.exit_code for task in tasks]

    def _delete_job(self, job_name: str) -> None:
        """Best effort: a job left behind costs nothing while idle; the outcome is known."""
        try:
            with translated("delete the finished Cloud Run job"):
                self.clients.jobs.delete_job(name=job_name, timeout=self._timeout)
        except InfrastructureError as error:
            log.warning("could not delete %s: %s", job_name, error)


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


# -- factory ---------------------------------------------------------------------------------


def make_provider(
    *,
    secret: str | None = None,
    credentials_json: str | None = None,
    credentials: Any = None,
    client_options: Mapping[str, Any] | None = None,
    transport: str = "rest",
    clients: CloudRunClients | None = None,
    **options: Any,
) -> CloudRunProvider:
    """Build the provider; the registry calls this.

    ``secret`` (or its older name ``credentials_json``) is the provider
    family's Secrets Manager value, a service-account key as JSON text; the
    caller reads it.  Without it and without ``credentials``, the clients use
    Application Default Credentials.  The SDK is imported here, so a missing
    ``pushpool[gcp]`` extra shows when the registry loads the provider.  ``options`` are the
    provider's timeouts (``request_timeout``, ``create_timeout``,
    ``poll_interval``) and ``default_project`` for configurations that name
    none (a Prefect template takes its project from its credentials block;
    here the key's ``project_id`` is the default).
    """
    sdk()
    credentials_json = secret or credentials_json
    if clients is None:
        if credentials is None and credentials_json:
            service_account = sdk().service_account
            try:
                info = json.loads(credentials_json)
            except ValueError as exc:
                raise InfrastructureError(
                    "the Cloud Run service-account key is not valid JSON", retryable=False
                ) from exc
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=list(SCOPES)
            )
            options.setdefault("default_project", info.get("project_id"))
        clients = CloudRunClients(
            credentials=credentials, client_options=client_options, transport=transport
        )
    return CloudRunProvider(clients, **options)
