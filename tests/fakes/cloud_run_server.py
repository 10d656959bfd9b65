"""A fake Cloud Run Admin API v2 (REST) on a local port, for the official client.

``google.cloud.run_v2``'s REST transport talks to it over real HTTP, so the
provider's tests exercise the SDK's own request encoding, error mapping and
long-running-operation handling.  It serves jobs (create, get, delete, run),
executions (list, get, cancel, delete), tasks (list) and operations (get),
answering with the shapes of the public REST reference: camelCase fields,
int64 as strings, enums as integers (the SDK asks for
``$alt=json;enum-encoding=int``) and ``google.rpc.Status`` errors.

Tests drive executions through their lives with ``start``, ``finish``,
``fail_to_start`` and ``remove``, and inject failures with ``fail_requests``.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.cloud_logging import LogEntries
from tests.fakes.cloud_run_api import (
    CONDITION_FAILED,
    CONDITION_PENDING,
    CONDITION_RECONCILING,
    CONDITION_SUCCEEDED,
    REASON_NON_ZERO_EXIT_CODE,
    ROUTES,
    ApiError,
    CloudRunApi,
    CloudRunState,
    Failure,
    RecordedRequest,
    condition,
    now_text,
)
from tests.fakes.google_rest import GoogleRestHandler
from tests.fakes.http_fake import RecordedFailures, loopback_server

__all__ = ["ApiError", "FakeCloudRun", "RecordedRequest"]


class FakeCloudRun(CloudRunApi, RecordedFailures):
    """The server plus the controls tests use to move executions along."""

    def __init__(self) -> None:
        self.state = CloudRunState()
        self.logs = LogEntries()  # Cloud Logging, served at the same address
        handler = type("Handler", (_Handler,), {"fake": self})
        self._serve_in_background(loopback_server(handler), poll_interval=0.02)

    # -- controls -------------------------------------------------------------------

    def print(self, execution: str, *messages: str, severity: str = "INFO") -> None:
        """The execution's container writes ``messages`` to Cloud Logging."""
        with self.state.lock:
            self.logs.write(execution, *messages, severity=severity)

    def list_log_entries(self, match: Any, query: Any, body: Any) -> dict[str, Any]:
        return self.logs.list(body)

    def fail_requests(
        self,
        *,
        code: int,
        status: str,
        message: str,
        times: int | None = None,
        only: str | None = None,
    ) -> None:
        """Answer requests with an error: ``times`` of them (else all until ``heal``),
        only those whose ``"METHOD path"`` matches the ``only`` pattern, if given."""
        pattern = re.compile(only) if only else None
        with self.state.lock:
            self.state.failure = Failure(code, status, message, times, pattern)

    def start(self, execution: str) -> None:
        with self.state.lock:
            body = self._execution(execution)
            body |= {"startTime": now_text(), "runningCount": body["taskCount"]}
            body["conditions"] = [
                condition("Completed", CONDITION_RECONCILING),
                condition("ResourcesAvailable", CONDITION_SUCCEEDED),
                condition("Started", CONDITION_SUCCEEDED),
            ]
            for task in self.state.tasks[execution]:
                task["startTime"] = now_text()

    def finish(self, execution: str, exit_code: int) -> None:
        """End every task of the execution with ``exit_code``."""
        with self.state.lock:
            body = self._execution(execution)
            count = body["taskCount"]
            body |= {"runningCount": 0, "completionTime": now_text(), "reconciling": False}
            for task in self.state.tasks[execution]:
                task["lastAttemptResult"] = {"status": {}, "exitCode": exit_code}
                task["completionTime"] = now_text()
            if exit_code == 0:
                body["succeededCount"] = count
                completed = condition(
                    "Completed", CONDITION_SUCCEEDED, "Execution completed successfully."
                )
            else:
                for task in self.state.tasks[execution]:
                    task["lastAttemptResult"]["status"] = {
                        "code": 2,
                        "message": f"The container exited with an error. Exit code: {exit_code}",
                    }
                body["failedCount"] = count
                completed = condition(
                    "Completed",
                    CONDITION_FAILED,
                    f"Task {body['job']}-{body['name'].rsplit('-', 1)[-1]}-0 failed: "
                    "The container exited with a non-zero exit code.",
                    executionReason=REASON_NON_ZERO_EXIT_CODE,
                )
            body["conditions"] = [completed, *body["conditions"][1:]]
            self._complete_run_operation(execution)

    def fail_to_start(self, execution: str, message: str) -> None:
        """The containers never start (image pull failure, say)."""
        with self.state.lock:
            body = self._execution(execution)
            body |= {"runningCount": 0, "failedCount": body["taskCount"], "reconciling": False}
            body["completionTime"] = now_text()
            body["conditions"] = [
                condition("Completed", CONDITION_FAILED, message),
                condition("ResourcesAvailable", CONDITION_FAILED, message),
                condition("Started", CONDITION_PENDING),
            ]
            self._complete_run_operation(execution)


class _Handler(GoogleRestHandler):
    fake: FakeCloudRun
    prefix = "/v2/"
    routes = ROUTES
