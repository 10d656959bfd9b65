"""The resources and request handlers of the fake Cloud Run Admin API v2.

``tests/fakes/cloud_run_server.py`` serves them over HTTP; this module holds
what the API stores and answers: jobs, executions, tasks and long-running
operations in the REST reference's JSON shapes (camelCase, int64 as strings,
enums as integers), and ``google.rpc.Status`` errors.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# google.cloud.run.v2.Condition.State / ExecutionReason, as integers.
CONDITION_PENDING, CONDITION_RECONCILING, CONDITION_FAILED, CONDITION_SUCCEEDED = 1, 2, 3, 4
REASON_NON_ZERO_EXIT_CODE, REASON_CANCELLED = 2, 3
LAUNCH_STAGE_GA = 6  # google.api.LaunchStage.GA
JOB_TYPE = "type.googleapis.com/google.cloud.run.v2.Job"
EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
JOB_ID = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")

_LOCATION = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_JOB = _LOCATION + r"/jobs/(?P<job>[^/:]+)"
_EXECUTION = _JOB + r"/executions/(?P<execution>[^/:]+)"


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "status"}}``."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


@dataclass
class RecordedRequest:
    """One exchange as the fake saw it (``path`` without the ``/v2/`` prefix)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    response: Any = None


@dataclass
class Failure:
    code: int
    status: str
    message: str
    remaining: int | None  # None: until healed
    only: re.Pattern[str] | None  # matched against "METHOD path"; None: every request


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def condition(kind: str, state: int, message: str = "", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "state": state, "lastTransitionTime": now_text()}
    if message:
        body["message"] = message
    return body | extra


@dataclass
class CloudRunState:
    """Everything the fake holds; guarded by ``lock``."""

    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Operation name -> polls left before it reports done (create/delete only).
    pending_polls: dict[str, int] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    failure: Failure | None = None
    create_polls: int = 0  # how many GETs a create operation stays not-done
    executions_started: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


class CloudRunApi:
    """Route handlers over ``self.state``; each is called with the state's lock held."""

    state: CloudRunState

    def remove(self, execution: str) -> None:
        """Delete the execution behind everyone's back."""
        with self.state.lock:
            self.state.executions.pop(execution, None)
            self.state.tasks.pop(execution, None)

    def _execution(self, name: str) -> dict[str, Any]:
        try:
            return self.state.executions[name]
        except KeyError:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found") from None

    def _job(self, name: str) -> dict[str, Any]:
        try:
            return self.state.jobs[name]
        except KeyError:
            raise ApiError(404, "NOT_FOUND", f"Resource '{name}' was not found") from None

    def _operation(
        self, parent: str, *, type_url: str, resource: dict[str, Any], done: bool
    ) -> dict[str, Any]:
        name = f"{parent}/operations/{uuid.uuid4()}"
        operation: dict[str, Any] = {
            "name": name,
            "metadata": {"@type": type_url, **resource},
            "done": done,
        }
        if done:
            operation["response"] = {"@type": type_url, **resource}
        self.state.operations[name] = operation
        return operation

    def _complete_run_operation(self, execution: str) -> None:
        for operation in self.state.operations.values():
            metadata = operation.get("metadata", {})
            if metadata.get("@type") == EXECUTION_TYPE and metadata.get("name") == execution:
                resource = dict(self.state.executions[execution])
                operation |= {"done": True, "response": {"@type": EXECUTION_TYPE, **resource}}

    def create_job(self, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Any:
        parent = f"projects/{match['project']}/locations/{match['location']}"
        job_id = (query.get("jobId") or [""])[0]
        if not JOB_ID.match(job_id):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid job id '{job_id}'.")
        containers = (body.get("template") or {}).get("template", {}).get("containers") or []
        if not containers or not containers[0].get("image"):
            raise ApiError(
                400, "INVALID_ARGUMENT", "spec.template.spec.containers[0].image: required"
            )
        name = f"{parent}/jobs/{job_id}"
        if name in self.state.jobs:
            raise ApiError(409, "ALREADY_EXISTS", f"Resource '{job_id}' already exists.")
        stamp = now_text()
        body = copy.deepcopy(body)
        template = body["template"]
        template.setdefault("taskCount", 1)
        template.setdefault("parallelism", 0)
        job = {
            **body,
            "name": name,
            "uid": str(uuid.uuid4()),
            "generation": "1",
            "createTime": stamp,
            "updateTime": stamp,
            "creator": "pushpool@test.iam.gserviceaccount.com",
            "lastModifier": "pushpool@test.iam.gserviceaccount.com",
            "launchStage": body.get("launchStage", LAUNCH_STAGE_GA),
            "observedGeneration": "1",
            "terminalCondition": condition("Ready", CONDITION_SUCCEEDED),
            "conditions": [],
            "executionCount": 0,
            "reconciling": False,
            "etag": '"1"',
        }
        self.state.jobs[name] = job
        done = self.state.create_polls == 0
        operation = self._operation(parent, type_url=JOB_TYPE, resource=job, done=done)
        if not done:
            self.state.pending_polls[operation["name"]] = self.state.create_polls
        return operation

    def get_operation(self, match: re.Match[str], query: Any, body: Any) -> Any:
        name = match.group(0)
        operation = self.state.operations.get(name)
        if operation is None:
            raise ApiError(404, "NOT_FOUND", f"Operation '{name}' was not found")
        left = self.state.pending_polls.get(name)
        if left is not None:
            if left <= 0:
                del self.state.pending_polls[name]
                operation |= {"done": True, "response": operation["metadata"]}
            else:
                self.state.pending_polls[name] = left - 1
        return operation

    def get_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        return self._job(match.group(0))

    def delete_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        name = match.group(0)
        job = self.state.jobs.pop(self._job(name)["name"])
        for execution in [e for e in self.state.executions if e.startswith(name + "/")]:
            self.remove(execution)
        parent = name.split("/jobs/")[0]
        return self._operation(parent, type_url=JOB_TYPE, resource=job, done=True)

    def run_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        name = match.group(0).removesuffix(":run")
        job = self._job(name)
        template = job["template"]
        short = f"{match['job']}-{uuid.uuid4().hex[:5]}"
        execution_name = f"{name}/executions/{short}"
        count = template.get("taskCount", 1)
        execution = {
            "name": execution_name,
            "uid": str(uuid.uuid4()),
            "creator": job["creator"],
            "generation": "1",
            "labels": dict(template.get("labels") or {}),
            "createTime": now_text(),
            "updateTime": now_text(),
            "launchStage": job["launchStage"],
            "job": match["job"],
            "parallelism": template.get("parallelism", 0),
            "taskCount": count,
            "template": template["template"],
            "reconciling": True,
            "conditions": [
                condition("Completed", CONDITION_PENDING),
                condition("ResourcesAvailable", CONDITION_PENDING),
                condition("Started", CONDITION_PENDING),
            ],
            "observedGeneration": "1",
            "logUri": f"https://console.cloud.google.com/logs/viewer?execution={short}",
            "etag": '"1"',
        }
        self.state.executions[execution_name] = execution
        self.state.tasks[execution_name] = [
            {
                "name": f"{execution_name}/tasks/{short}-task{index}",
                "uid": str(uuid.uuid4()),
                "generation": "1",
                "createTime": now_text(),
                "job": match["job"],
                "execution": short,
                "containers": template["template"].get("containers", []),
                "index": index,
            }
            for index in range(count)
        ]
        self.state.executions_started += 1
        job["executionCount"] = job.get("executionCount", 0) + 1
        job["latestCreatedExecution"] = {"name": execution_name, "createTime": now_text()}
        parent = name.split("/jobs/")[0]
        return self._operation(parent, type_url=EXECUTION_TYPE, resource=execution, done=False)

    def list_executions(self, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Any:
        prefix = match.group(0).removesuffix("/executions") + "/executions/"
        names = sorted(n for n in self.state.executions if n.startswith(prefix))
        return _page([self.state.executions[n] for n in names], query, "executions")

    def get_execution(self, match: re.Match[str], query: Any, body: Any) -> Any:
        return self._execution(match.group(0))

    def cancel_execution(self, match: re.Match[str], query: Any, body: Any) -> Any:
        name = match.group(0).removesuffix(":cancel")
        execution = self._execution(name)
        if "completionTime" not in execution:
            count = execution["taskCount"]
            execution |= {"runningCount": 0, "cancelledCount": count, "reconciling": False}
            execution["completionTime"] = now_text()
            execution["conditions"] = [
                condition(
                    "Completed",
                    CONDITION_FAILED,
                    "The execution was cancelled.",
                    executionReason=REASON_CANCELLED,
                ),
                *execution["conditions"][1:],
            ]
            self._complete_run_operation(name)
        parent = name.split("/jobs/")[0]
        return self._operation(parent, type_url=EXECUTION_TYPE, resource=execution, done=True)

    def delete_execution(self, match: re.Match[str], query: Any, body: Any) -> Any:
        name = match.group(0)
        execution = self._execution(name)
        self.remove(name)
        parent = name.split("/jobs/")[0]
        return self._operation(parent, type_url=EXECUTION_TYPE, resource=execution, done=True)

    def list_tasks(self, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Any:
        execution = match.group(0).removesuffix("/tasks")
        self._execution(execution)
        return _page(self.state.tasks[execution], query, "tasks")


def _page(items: list[dict[str, Any]], query: dict[str, list[str]], key: str) -> dict[str, Any]:
    size = int((query.get("pageSize") or ["100"])[0]) or 100
    start = int((query.get("pageToken") or ["0"])[0] or 0)
    page: dict[str, Any] = {key: items[start : start + size]} if items else {}
    if start + size < len(items):
        page["nextPageToken"] = str(start + size)
    return page


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile("^entries:list$"), "list_log_entries"),  # Cloud Logging
    ("POST", re.compile(f"^{_LOCATION}/jobs$"), "create_job"),
    ("GET", re.compile(f"^{_LOCATION}/operations/[^/]+$"), "get_operation"),
    ("GET", re.compile(f"^{_JOB}$"), "get_job"),
    ("DELETE", re.compile(f"^{_JOB}$"), "delete_job"),
    ("POST", re.compile(f"^{_JOB}:run$"), "run_job"),
    ("GET", re.compile(f"^{_JOB}/executions$"), "list_executions"),
    ("GET", re.compile(f"^{_EXECUTION}$"), "get_execution"),
    ("DELETE", re.compile(f"^{_EXECUTION}$"), "delete_execution"),
    ("POST", re.compile(f"^{_EXECUTION}:cancel$"), "cancel_execution"),
    ("GET", re.compile(f"^{_EXECUTION}/tasks$"), "list_tasks"),
]
