"""The HTTP client for pushpool's API: the public ``pushpool.Client``, also
the one the CLI and the pull worker use.

Methods mirror the routes and return the decoded JSON, typed by the shapes
in ``pushpool.types``; any non-success answer raises ``ApiError`` carrying the
server's ``detail``, so callers show one line that says what to fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast
from urllib.parse import quote

import httpx

from pushpool.types import (
    TERMINAL_STATE_TYPES,
    Deployment,
    Flow,
    FlowRun,
    WorkPool,
    WorkQueue,
)

DEFAULT_TIMEOUT = 30.0


class _Unset:
    """Marks an update argument that was not given (``None`` clears a field)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not UNSET}


class RunTimeout(TimeoutError):
    """``wait_for_run`` gave up before the run reached a terminal state."""

    def __init__(self, run: FlowRun, timeout: float) -> None:
        super().__init__(f"flow run {run['id']} is still {run['state_type']} after {timeout:g} s")
        self.run = run


class ApiError(Exception):
    """The API refused a request (``status`` > 0) or could not be reached (0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _seg(value: str) -> str:
    return quote(value, safe="")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)
    return str(body)[:300]


class Client:
    """``Client("http://127.0.0.1:4200/api", api_key=...)``; use it as a context
    manager (or call ``close``) to release its connections."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.api_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise ApiError(
                0,
                f"cannot reach the pushpool API at {self.api_url} ({exc.__class__.__name__}); "
                "start one with 'pushpool server' or set --api-url / PUSHPOOL_API_URL",
            ) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, _detail(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _obj(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return cast(dict[str, Any], self.request(method, path, body))

    def _list(self, method: str, path: str, body: Any = None) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self.request(method, path, body))

    # -- root -----------------------------------------------------------------
    def health(self) -> bool:
        return bool(self.request("GET", "/health"))

    # -- work pools -------------------------------------------------------------
    def create_pool(
        self,
        *,
        name: str,
        type: str = "process",
        description: str | None = None,
        base_job_template: Mapping[str, Any] | None = None,
        is_paused: bool = False,
        concurrency_limit: int | None = None,
        late_runs: str | None = None,
    ) -> WorkPool:
        body = {
            "name": name,
            "type": type,
            "description": description,
            "base_job_template": dict(base_job_template or {}),
            "is_paused": is_paused,
            "concurrency_limit": concurrency_limit,
            "late_runs": late_runs,
        }
        return cast(WorkPool, self.request("POST", "/work_pools/", body))

    def read_pool(self, name: str) -> WorkPool:
        return cast(WorkPool, self.request("GET", f"/work_pools/{_seg(name)}"))

    def list_pools(self, **where: Any) -> list[WorkPool]:
        """``where`` is Prefect's filter body, e.g. ``work_pools={"type": {"any_": ["ecs:push"]}}``."""
        return cast(list[WorkPool], self.request("POST", "/work_pools/filter", where))

    def update_pool(
        self,
        name: str,
        *,
        description: str | None = UNSET,
        is_paused: bool = UNSET,
        base_job_template: Mapping[str, Any] = UNSET,
        concurrency_limit: int | None = UNSET,
        late_runs: str | None = UNSET,
    ) -> None:
        """Change only the fields given; ``concurrency_limit=None`` removes the limit,
        ``late_runs=None`` the late-run policy (runs then all run)."""
        changes = _given(
            description=description,
            is_paused=is_paused,
            base_job_template=base_job_template,
            concurrency_limit=concurrency_limit,
            late_runs=late_runs,
        )
        self.request("PATCH", f"/work_pools/{_seg(name)}", changes)

    def delete_pool(self, name: str) -> None:
        self.request("DELETE", f"/work_pools/{_seg(name)}")

    def concurrency_status(self, name: str) -> dict[str, Any]:
        path = f"/work_pools/{_seg(name)}/concurrency_status"
        return self._obj("POST", path, {"flow_run_limit": 50})

    def preview(self, name: str, *, hours: float, queues: Sequence[str] | None = None) -> Any:
        body: dict[str, Any] = {"hours": hours}
        if queues is not None:
            body["work_queue_names"] = list(queues)
        return self.request("POST", f"/work_pools/{_seg(name)}/preview", body)

    def get_scheduled_flow_runs(
        self,
        pool: str,
        *,
        queue_names: Sequence[str] | None = None,
        scheduled_before: datetime | None = None,
        limit: int | None = None,
        wait_seconds: float = 0.0,
    ) -> list[dict[str, Any]]:
        """``wait_seconds``: pushpool's long-poll; with nothing to offer, the
        local server holds the answer until a run may be due (at most 20 s)."""
        body: dict[str, Any] = {}
        if queue_names:
            body["work_queue_names"] = list(queue_names)
        if scheduled_before is not None:
            body["scheduled_before"] = scheduled_before.isoformat()
        if limit is not None:
            body["limit"] = limit
        if wait_seconds > 0:
            body["wait_seconds"] = wait_seconds
        path = f"/work_pools/{_seg(pool)}/get_scheduled_flow_runs"
        return self._list("POST", path, body)

    # -- work queues ---------------------------------------------------------------
    def create_queue(
        self,
        pool: str,
        *,
        name: str,
        description: str | None = None,
        priority: int | None = None,
        concurrency_limit: int | None = None,
        is_paused: bool = False,
    ) -> WorkQueue:
        body = {
            "name": name,
            "description": description,
            "priority": priority,
            "concurrency_limit": concurrency_limit,
            "is_paused": is_paused,
        }
        return cast(WorkQueue, self.request("POST", f"/work_pools/{_seg(pool)}/queues", body))

    def read_queue(self, pool: str, name: str) -> WorkQueue:
        path = f"/work_pools/{_seg(pool)}/queues/{_seg(name)}"
        return cast(WorkQueue, self.request("GET", path))

    def list_queues(self, pool: str) -> list[WorkQueue]:
        path = f"/work_pools/{_seg(pool)}/queues/filter"
        return cast(list[WorkQueue], self.request("POST", path, {}))

    def update_queue(
        self,
        pool: str,
        name: str,
        *,
        new_name: str = UNSET,
        description: str | None = UNSET,
        priority: int = UNSET,
        concurrency_limit: int | None = UNSET,
        is_paused: bool = UNSET,
    ) -> None:
        """Change only the fields given; ``concurrency_limit=None`` removes the limit."""
        changes = _given(
            name=new_name,
            description=description,
            priority=priority,
            concurrency_limit=concurrency_limit,
            is_paused=is_paused,
        )
        self.request("PATCH", f"/work_pools/{_seg(pool)}/queues/{_seg(name)}", changes)

    def delete_queue(self, pool: str, name: str) -> None:
        self.request("DELETE", f"/work_pools/{_seg(pool)}/queues/{_seg(name)}")

    # -- workers ------------------------------------------------------------------------
    def heartbeat(self, pool: str, name: str, *, interval_seconds: int | None = None) -> None:
        body = {"name": name, "heartbeat_interval_seconds": interval_seconds}
        self.request("POST", f"/work_pools/{_seg(pool)}/workers/heartbeat", body)

    def list_workers(self, pool: str) -> list[dict[str, Any]]:
        return self._list("POST", f"/work_pools/{_seg(pool)}/workers/filter", {})

    # -- flows and deployments -------------------------------------------------------------
    def create_flow(self, name: str) -> Flow:
        """The flow named ``name`` (created if new; the same one otherwise)."""
        return cast(Flow, self.request("POST", "/flows/", {"name": name}))

    def create_deployment(self, body: Mapping[str, Any]) -> Deployment:
        """Create or update (same flow and name) from a ``POST /deployments/`` body."""
        return cast(Deployment, self.request("POST", "/deployments/", dict(body)))

    def read_deployment(self, deployment_id: str) -> Deployment:
        return cast(Deployment, self.request("GET", f"/deployments/{_seg(deployment_id)}"))

    def read_deployment_by_name(self, flow_name: str, name: str) -> Deployment:
        path = f"/deployments/name/{_seg(flow_name)}/{_seg(name)}"
        return cast(Deployment, self.request("GET", path))

    def list_deployments(self, **where: Any) -> list[Deployment]:
        return cast(list[Deployment], self.request("POST", "/deployments/filter", where))

    def update_deployment(self, deployment_id: str, **changes: Any) -> None:
        self.request("PATCH", f"/deployments/{_seg(deployment_id)}", changes)

    def delete_deployment(self, deployment_id: str) -> None:
        self.request("DELETE", f"/deployments/{_seg(deployment_id)}")

    def create_flow_run(self, deployment_id: str, **body: Any) -> FlowRun:
        """A run of the deployment; ``body`` is Prefect's ``DeploymentFlowRunCreate``
        (``parameters``, ``job_variables``, ``state``, ``work_queue_name``, ``name``)."""
        path = f"/deployments/{_seg(deployment_id)}/create_flow_run"
        return cast(FlowRun, self.request("POST", path, body))

    # -- flow runs ---------------------------------------------------------------------------
    def read_run(self, run_id: str) -> FlowRun:
        return cast(FlowRun, self.request("GET", f"/flow_runs/{_seg(run_id)}"))

    def list_runs(self, **where: Any) -> list[FlowRun]:
        """``where`` is Prefect's filter body, e.g. ``flow_runs={"state": {"type": {"any_": ["FAILED"]}}}``."""
        return cast(list[FlowRun], self.request("POST", "/flow_runs/filter", where))

    def wait_for_run(
        self,
        run_id: str,
        *,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> FlowRun:
        """Poll until the run is COMPLETED, FAILED, CRASHED or CANCELLED and return it;
        ``RunTimeout`` (carrying the last read) after ``timeout`` seconds."""
        deadline = clock() + timeout
        while True:
            run = self.read_run(run_id)
            if run["state_type"] in TERMINAL_STATE_TYPES:
                return run
            if clock() >= deadline:
                raise RunTimeout(run, timeout)
            sleep(min(poll_interval, max(0.0, deadline - clock())))

    def set_state(
        self,
        run_id: str,
        state_type: str,
        *,
        name: str | None = None,
        message: str | None = None,
        scheduled_time: datetime | None = None,
        force: bool = False,
        attempt: int | None = None,
        worker_name: str | None = None,
    ) -> dict[str, Any]:
        """``attempt`` fences the proposal to that attempt; ``worker_name``
        records the claiming worker (both pushpool extensions)."""
        state: dict[str, Any] = {"type": state_type}
        if name:
            state["name"] = name
        if message:
            state["message"] = message
        if scheduled_time is not None:
            state["state_details"] = {"scheduled_time": scheduled_time.isoformat()}
        path = f"/flow_runs/{_seg(run_id)}/set_state"
        body: dict[str, Any] = {"state": state, "force": force}
        if attempt is not None:
            body["attempt"] = attempt
        if worker_name is not None:
            body["worker_name"] = worker_name
        return self._obj("POST", path, body)

    def read_job(self, run_id: str) -> dict[str, Any]:
        """The rendered job of a run this worker claimed (``GET /flow_runs/{id}/job``)."""
        return self._obj("GET", f"/flow_runs/{_seg(run_id)}/job")

    def read_runs(self, run_ids: Sequence[str]) -> list[FlowRun]:
        """Several runs in one request (those that still exist)."""
        ids = list(run_ids)
        if not ids:
            return []
        return self.list_runs(flow_runs={"id": {"any_": ids}}, limit=len(ids))

    def report_infrastructure(
        self, run_id: str, infrastructure_pid: str, *, attempt: int | None = None
    ) -> None:
        body: dict[str, Any] = {"infrastructure_pid": infrastructure_pid}
        if attempt is not None:
            body["attempt"] = attempt
        self.request("PATCH", f"/flow_runs/{_seg(run_id)}", body)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self.set_state(run_id, "CANCELLING", message="Cancelled on request.")

    # -- logs --------------------------------------------------------------------------------------
    def write_logs(self, lines: Sequence[Mapping[str, Any]]) -> None:
        """Store a batch of log lines (``POST /logs/``); the same batch again stores nothing new."""
        self.request("POST", "/logs/", list(lines))

    def read_logs(
        self,
        run_id: str,
        *,
        after_key: str | None = None,
        limit: int = 200,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "logs": {"flow_run_id": {"any_": [run_id]}},
            "limit": limit,
            "sort": "TIMESTAMP_DESC" if newest_first else "TIMESTAMP_ASC",
        }
        if after_key is not None:
            body["after_key"] = after_key
        return self._list("POST", "/logs/filter", body)

    # -- tokens ----------------------------------------------------------------------------------
    def create_token(
        self, scope: str, *, pool_name: str | None = None, run_id: str | None = None
    ) -> dict[str, Any]:
        body = {"scope": scope, "pool_name": pool_name, "run_id": run_id}
        return self._obj("POST", "/tokens/", body)
