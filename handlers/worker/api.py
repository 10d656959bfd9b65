"""The worker's port to the API: the calls it makes, and nothing more.

Two adapters serve it.  ``pushpool.Client`` speaks HTTP, for a worker on any
machine (``pushpool worker start``); ``handlers.local.worker_api.InProcessApi``
calls the services in the server's own process (``pushpool server
--with-worker``), with the same authorization a worker token of the pool has.
Both answer the API's JSON shapes (``pushpool.types``) and raise
``pushpool.client.ApiError`` (``status`` and ``detail``) when refused, so the
worker reads one kind of answer whichever adapter it holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from pushpool.types import FlowRun, WorkPool, WorkQueue


class WorkerApi(Protocol):
    # -- setup: the pool and its queues --------------------------------------------
    def read_pool(self, name: str) -> WorkPool: ...

    def create_pool(self, *, name: str, type: str) -> WorkPool: ...

    def read_queue(self, pool: str, name: str) -> WorkQueue: ...

    def create_queue(self, pool: str, *, name: str) -> WorkQueue: ...

    # -- liveness and polling ----------------------------------------------------------
    def heartbeat(self, pool: str, name: str, *, interval_seconds: int | None = None) -> None: ...

    def get_scheduled_flow_runs(
        self,
        pool: str,
        *,
        queue_names: Sequence[str] | None = None,
        scheduled_before: datetime | None = None,
        limit: int | None = None,
        wait_seconds: float = 0.0,
    ) -> list[dict[str, Any]]: ...

    # -- a claimed run: propose states, read its job, report its infrastructure ---------
    def set_state(
        self,
        run_id: str,
        state_type: str,
        *,
        message: str | None = None,
        scheduled_time: datetime | None = None,
        attempt: int | None = None,
        worker_name: str | None = None,
    ) -> dict[str, Any]: ...

    def read_job(self, run_id: str) -> dict[str, Any]: ...

    def report_infrastructure(
        self, run_id: str, infrastructure_pid: str, *, attempt: int | None = None
    ) -> None: ...

    def read_runs(self, run_ids: Sequence[str]) -> list[FlowRun]: ...

    def list_runs(self, **where: Any) -> list[FlowRun]:
        """``where`` is Prefect's flow-run filter body (``FlowRunFilter``)."""
        ...

    def write_logs(self, lines: Sequence[Mapping[str, Any]]) -> None: ...

    def close(self) -> None: ...
