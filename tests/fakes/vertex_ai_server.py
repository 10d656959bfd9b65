"""A fake Vertex AI API v1 (custom jobs, REST) on a local port, for the official client.

``google.cloud.aiplatform_v1``'s ``JobServiceClient`` with the REST
transport talks to it over real HTTP, so the provider's tests exercise the
SDK's own request encoding, paging and error mapping.  It serves custom jobs
(create, get, list with a ``labels.k="v" AND ...`` filter, cancel) with the
public REST reference's shapes: camelCase fields, enums as integers (the SDK
asks for ``enum-encoding=int``), job names under the project *number* as
the real API returns them, server-assigned numeric ids, a ``google.rpc.Status``
``error`` on a failed job, and ``google.rpc.Status`` error replies.

Tests move jobs along with ``start``, ``finish``, ``fail_to_start``,
``settle_cancel`` and ``remove``, inject failures with ``fail_requests`` and
widen race windows with ``create_delay``.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.cloud_run_api import ApiError, Failure, RecordedRequest, now_text
from tests.fakes.google_rest import GoogleRestHandler
from tests.fakes.http_fake import RecordedFailures, loopback_server

# google.cloud.aiplatform.v1.JobState
QUEUED, PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLING, CANCELLED = 1, 2, 3, 4, 5, 6, 7
TERMINAL = {SUCCEEDED, FAILED, CANCELLED}
PROJECT_NUMBER = "123456789012"
_LABEL = re.compile(r"^[a-z0-9_-]{0,63}$")
_FILTER_TERM = re.compile(r'^labels\.(?P<key>[a-z0-9_-]+)\s*=\s*"(?P<value>[^"]*)"$')
_PARENT = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
_JOB = _PARENT + r"/customJobs/(?P<id>[0-9]+)"


@dataclass
class VertexState:
    """Everything the fake holds; guarded by ``lock``."""

    custom_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    failure: Failure | None = None
    jobs_created: int = 0
    create_delay: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(4_000_000_001))


class FakeVertexAI(RecordedFailures):
    """The server plus the controls tests use to move custom jobs along."""

    def __init__(self) -> None:
        self.state = VertexState()
        handler = type("Handler", (_Handler,), {"fake": self})
        self._serve_in_background(loopback_server(handler), poll_interval=0.02)

    # -- controls -------------------------------------------------------------------

    def fail_requests(self, *, code: int, status: str, message: str) -> None:
        with self.state.lock:
            self.state.failure = Failure(code, status, message, None, None)

    def start(self, name: str) -> None:
        self._move(name, RUNNING, startTime=now_text())

    def finish(self, name: str, exit_code: int) -> None:
        if exit_code == 0:
            self._move(name, SUCCEEDED, endTime=now_text())
            return
        message = (
            f"The replica workerpool0-0 exited with a non-zero status of {exit_code}. "
            "Termination reason: Error. To find out more about why your job exited please "
            "check the logs: https://console.cloud.google.com/logs/viewer?project="
            f"{PROJECT_NUMBER}"
        )
        self._move(name, FAILED, endTime=now_text(), error={"code": 3, "message": message})

    def fail_to_start(self, name: str, message: str) -> None:
        self._move(name, FAILED, endTime=now_text(), error={"code": 3, "message": message})

    def settle_cancel(self, name: str) -> None:
        """A cancel requested earlier takes effect."""
        with self.state.lock:
            if self._get(name)["state"] == CANCELLING:
                self._move(
                    name, CANCELLED, endTime=now_text(), error={"code": 1, "message": "CANCELED"}
                )

    def remove(self, name: str) -> None:
        with self.state.lock:
            self.state.custom_jobs.pop(name, None)

    def live_jobs(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [
                copy.deepcopy(j)
                for j in self.state.custom_jobs.values()
                if j["state"] not in TERMINAL | {CANCELLING}
            ]

    def _move(self, name: str, state: int, **fields: Any) -> None:
        with self.state.lock:
            job = self._get(name)
            job |= {"state": state, "updateTime": now_text(), **fields}

    def _get(self, name: str) -> dict[str, Any]:
        job = self.state.custom_jobs.get(name)
        if job is None:
            raise ApiError(404, "NOT_FOUND", f'The CustomJob "{name}" does not exist.')
        return job

    # -- the API ------------------------------------------------------------------------

    def create_custom_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        _validate(body or {})
        job_id = str(next(self.state.ids))
        name = f"projects/{PROJECT_NUMBER}/locations/{match['location']}/customJobs/{job_id}"
        stamp = now_text()
        job = copy.deepcopy(body) | {
            "name": name,
            "state": PENDING,
            "createTime": stamp,
            "updateTime": stamp,
        }
        self.state.custom_jobs[name] = job
        self.state.jobs_created += 1
        return job

    def get_custom_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        return self._get(self._canonical(match))

    def list_custom_jobs(self, match: re.Match[str], query: dict[str, list[str]], body: Any) -> Any:
        wanted = _parse_filter((query.get("filter") or [""])[0])
        prefix = f"projects/{PROJECT_NUMBER}/locations/{match['location']}/customJobs/"
        found = [
            job
            for name, job in self.state.custom_jobs.items()
            if name.startswith(prefix)
            and all(job.get("labels", {}).get(k) == v for k, v in wanted.items())
        ]
        return {"customJobs": found} if found else {}

    def cancel_custom_job(self, match: re.Match[str], query: Any, body: Any) -> Any:
        job = self._get(self._canonical(match))
        if job["state"] in TERMINAL:
            raise ApiError(
                400,
                "FAILED_PRECONDITION",
                f"Cannot cancel CustomJob {job['name']} in state {job['state']}.",
            )
        job |= {"state": CANCELLING, "updateTime": now_text()}
        return {}

    @staticmethod
    def _canonical(match: re.Match[str]) -> str:
        """Jobs are addressable by project id or number; stored under the number."""
        return f"projects/{PROJECT_NUMBER}/locations/{match['location']}/customJobs/{match['id']}"


def _validate(body: dict[str, Any]) -> None:
    if not body.get("displayName"):
        raise ApiError(400, "INVALID_ARGUMENT", "CustomJob.display_name is required.")
    for key, value in (body.get("labels") or {}).items():
        if not key or not _LABEL.match(key) or not _LABEL.match(value):
            raise ApiError(400, "INVALID_ARGUMENT", f"Invalid label {key}={value}.")
    pools = (body.get("jobSpec") or {}).get("workerPoolSpecs") or []
    if not pools:
        raise ApiError(400, "INVALID_ARGUMENT", "CustomJobSpec.worker_pool_specs is required.")
    for pool in pools:
        if not (pool.get("containerSpec") or {}).get("imageUri"):
            raise ApiError(400, "INVALID_ARGUMENT", "ContainerSpec.image_uri is required.")
        if not (pool.get("machineSpec") or {}).get("machineType"):
            raise ApiError(400, "INVALID_ARGUMENT", "MachineSpec.machine_type is required.")


def _parse_filter(text: str) -> dict[str, str]:
    """``labels.k="v" AND ...``; anything else is refused as the real API refuses it."""
    wanted: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in re.split(r"\s+AND\s+", text.strip()))):
        match = _FILTER_TERM.match(term)
        if match is None:
            raise ApiError(400, "INVALID_ARGUMENT", f"Unsupported filter: {text}")
        wanted[match["key"]] = match["value"]
    return wanted


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(f"^{_PARENT}/customJobs$"), "create_custom_job"),
    ("GET", re.compile(f"^{_PARENT}/customJobs$"), "list_custom_jobs"),
    ("GET", re.compile(f"^{_JOB}$"), "get_custom_job"),
    ("POST", re.compile(f"^{_JOB}:cancel$"), "cancel_custom_job"),
]


class _Handler(GoogleRestHandler):
    fake: FakeVertexAI
    prefix = "/v1/"
    routes = ROUTES

    def before_lock(self, method: str, path: str) -> None:
        state = self.fake.state
        if method == "POST" and path.endswith("/customJobs") and state.create_delay:
            time.sleep(state.create_delay)  # outside the lock: lets concurrent submits race
