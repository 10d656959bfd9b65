"""``pushpool server --with-worker``: the worker's API port as calls to the services.

The workers inside the server are the very ``handlers.worker.Worker`` that
``pushpool worker start`` runs; only the adapter behind their port
(``handlers.worker.api.WorkerApi``) differs.  Through HTTP in one process a
call was encoded four times (an httpx request, an ASGI scope, an API Gateway
event for the resolver, a JSON body decoded back to a dict).  Here a call
checks its arguments with the route's own request schema, makes the route's
authorization checks for a worker of the pool, calls the same service, and
answers the route's response schema as a dict: the shapes the HTTP client
returns, without a wire.

Errors are the HTTP client's too: a project error becomes ``ApiError`` with
its status and detail, an argument the schema refuses a 422 with the API's
detail, anything else (a bug) is logged and answered 500, as the resolver
does.  A poll answers at once (``wait_seconds`` is honoured as 0, as on
Lambda): ``LocalWorkers`` wakes its workers directly instead.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn, ParamSpec, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError

from core.errors import PushpoolError
from core.services import logs, polling, pools, queues, runs, workers
from core.services.auth import Principal
from core.services.context import Context
from handlers.api.app import INTERNAL_ERROR, invalid_detail
from handlers.api.routes.flow_runs import run_filter
from handlers.api.schemas.logs import LogCreate
from handlers.api.schemas.pools import WorkerHeartbeat
from handlers.api.schemas.pools import WorkPool as WorkPoolOut
from handlers.api.schemas.pools import WorkQueue as WorkQueueOut
from handlers.api.schemas.runs import FlowRun as FlowRunOut
from handlers.api.schemas.runs import (
    FlowRunFilter,
    FlowRunJob,
    FlowRunUpdate,
    OrchestrationResult,
    ScheduledRunsRequest,
    SetStateRequest,
    WorkerFlowRun,
)
from handlers.bootstrap import Container
from pushpool.client import ApiError
from pushpool.types import FlowRun, WorkPool, WorkQueue

log = logging.getLogger("pushpool.api")

# The route's body is a list: validated as one, a refusal names the line's index.
_LOG_BATCH = TypeAdapter(list[LogCreate])

P = ParamSpec("P")
R = TypeVar("R")


def _answered(call: Callable[P, R]) -> Callable[P, R]:
    """The API's error mapping, as ``ApiError`` like the HTTP client raises."""

    @functools.wraps(call)
    def answer(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return call(*args, **kwargs)
        except PushpoolError as exc:
            raise ApiError(exc.status, exc.detail) from exc
        except ValidationError as exc:
            raise ApiError(422, invalid_detail(exc, default="invalid value")) from exc
        except Exception as exc:
            log.exception("unhandled error in the API", exc_info=exc)
            raise ApiError(500, INTERNAL_ERROR) from exc

    return answer


def _json(model: BaseModel) -> Any:
    """The response body the resolver would send (aliases, ISO times), as a dict."""
    return model.model_dump(mode="json", by_alias=True)


class InProcessApi:
    """The API for one worker of ``pool_name``, served in this process."""

    def __init__(self, container: Container, pool_name: str) -> None:
        self._container = container
        # Authorization, not authentication: the checks a worker token of the pool gets.
        self._principal = Principal(scope="worker", pool_name=pool_name, token_id="local-worker")

    @property
    def _ctx(self) -> Context:
        return self._container.context

    def close(self) -> None:
        """Nothing to release: there is no connection."""

    # -- setup ------------------------------------------------------------------------
    @_answered
    def read_pool(self, name: str) -> WorkPool:
        self._principal.require_pool(name)
        ctx = self._ctx
        return cast(WorkPool, _json(WorkPoolOut.of(pools.view(ctx, ctx.store.get_pool(name)))))

    @_answered
    def create_pool(self, *, name: str, type: str) -> WorkPool:
        return self._admins_only()

    @_answered
    def read_queue(self, pool: str, name: str) -> WorkQueue:
        self._principal.require_pool(pool)
        ctx = self._ctx
        work_pool, queue = queues.get_queue(ctx, pool, name)
        return cast(WorkQueue, _json(WorkQueueOut.of(queues.view(ctx, work_pool, queue))))

    @_answered
    def create_queue(self, pool: str, *, name: str) -> WorkQueue:
        return self._admins_only()

    def _admins_only(self) -> NoReturn:
        """Creating pools and queues needs an admin token: a worker's is refused (403)."""
        self._principal.require_admin()
        raise AssertionError("a worker principal is never an admin")

    # -- liveness and polling --------------------------------------------------------------
    @_answered
    def heartbeat(self, pool: str, name: str, *, interval_seconds: int | None = None) -> None:
        self._principal.require_pool(pool)
        body = WorkerHeartbeat(name=name, heartbeat_interval_seconds=interval_seconds)
        workers.heartbeat(
            self._ctx, pool, body.name, interval_seconds=body.heartbeat_interval_seconds
        )

    @_answered
    def get_scheduled_flow_runs(
        self,
        pool: str,
        *,
        queue_names: Sequence[str] | None = None,
        scheduled_before: datetime | None = None,
        limit: int | None = None,
        wait_seconds: float = 0.0,
    ) -> list[dict[str, Any]]:
        self._principal.require_pool(pool)
        request = ScheduledRunsRequest(
            work_queue_names=list(queue_names) if queue_names else None,
            scheduled_before=scheduled_before,
            limit=limit,
        )
        offered = polling.scheduled_runs(
            self._ctx,
            pool,
            queue_names=request.work_queue_names,
            scheduled_before=request.scheduled_before,
            scheduled_after=request.scheduled_after,
            limit=request.limit,
        )
        return [
            _json(
                WorkerFlowRun(
                    work_pool_id=o.pool_id, work_queue_id=o.queue_id, flow_run=FlowRunOut.of(o.run)
                )
            )
            for o in offered
        ]

    # -- a claimed run ------------------------------------------------------------------
    @_answered
    def set_state(
        self,
        run_id: str,
        state_type: str,
        *,
        message: str | None = None,
        scheduled_time: datetime | None = None,
        attempt: int | None = None,
        worker_name: str | None = None,
    ) -> dict[str, Any]:
        ctx = self._ctx
        run = runs.get_run(ctx, run_id)
        self._principal.require_run(run)
        details = {"scheduled_time": scheduled_time} if scheduled_time else None
        # One validation of the whole body, so a refusal names the field as the route does.
        body = SetStateRequest.model_validate(
            {
                "state": {"type": state_type, "message": message, "state_details": details},
                "attempt": attempt,
                "worker_name": worker_name,
            }
        )
        result = runs.set_state(ctx, run.id, body.proposal(), force=body.force)
        return cast(dict[str, Any], _json(OrchestrationResult.of(result)))

    @_answered
    def read_job(self, run_id: str) -> dict[str, Any]:
        app = self._container
        run = runs.get_run(app.context, run_id)
        self._principal.require_run(run)
        job = runs.claimed_job(
            app.context, run.id, api_url=app.settings.api_url, run_token=app.run_token
        )
        return cast(dict[str, Any], _json(FlowRunJob.of(job)))

    @_answered
    def report_infrastructure(
        self, run_id: str, infrastructure_pid: str, *, attempt: int | None = None
    ) -> None:
        ctx = self._ctx
        run = runs.get_run(ctx, run_id)
        self._principal.require_run(run)
        body = FlowRunUpdate(infrastructure_pid=infrastructure_pid, attempt=attempt)
        if body.infrastructure_pid is not None:
            runs.report_infrastructure(ctx, run.id, body.infrastructure_pid, attempt=body.attempt)

    def read_runs(self, run_ids: Sequence[str]) -> list[FlowRun]:
        ids = list(run_ids)
        if not ids:
            return []
        return self.list_runs(flow_runs={"id": {"any_": ids}}, limit=len(ids))

    @_answered
    def list_runs(self, **where: Any) -> list[FlowRun]:
        found = runs.list_runs(
            self._ctx, run_filter(FlowRunFilter.model_validate(where), self._principal)
        )
        return [cast(FlowRun, _json(FlowRunOut.of(run))) for run in found]

    @_answered
    def write_logs(self, lines: Sequence[Mapping[str, Any]]) -> None:
        body = _LOG_BATCH.validate_python(list(lines))
        logs.write_logs(
            self._ctx,
            self._container.logs,
            [item.line() for item in body],
            authorize=self._principal.require_run,
        )
