"""A worker that starts again under a name it had before takes stock first.

The store remembers which worker claimed each run (``worker_name``); a
worker killed with ``kill -9`` left its claims there and perhaps its
infrastructure running (a process in its own session outlives its parent).
A new ledger knows none of it, and the pool's heartbeat timeout would never
end those claims, since the restarted worker beats under the same name.
So before its first claim the worker ends every run still held in its name:
it stops what was started for it (by infrastructure id, which the provider
can find without the lost ledger) and reports the run CRASHED for that
attempt.  Adopting the infrastructure instead would need an exit code the
dead worker can no longer collect; ending it says plainly what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.errors import InfrastructureError
from core.ports import Provider
from handlers.worker.api import WorkerApi
from handlers.worker.reporter import Reporter
from pushpool.client import ApiError
from pushpool.types import FlowRun

log = logging.getLogger("pushpool.worker")

HELD = ["PENDING", "RUNNING", "CANCELLING"]
PAGE = 200


def held_runs(client: WorkerApi, pool: str, worker_name: str) -> list[FlowRun]:
    """The slot-holding runs of ``pool`` claimed under ``worker_name``."""
    found: list[FlowRun] = []
    offset = 0
    while True:
        page = client.list_runs(
            work_pools={"name": {"any_": [pool]}},
            flow_runs={"state": {"type": {"any_": HELD}}},
            limit=PAGE,
            offset=offset,
        )
        found.extend(run for run in page if run.get("worker_name") == worker_name)
        if len(page) < PAGE:
            return found
        offset += PAGE


def end_previous_claims(
    client: WorkerApi, reporter: Reporter, provider: Callable[[], Provider], pool: str
) -> list[str]:
    """Stop and crash what an earlier life of this worker left; a line per run."""
    try:
        runs = held_runs(client, pool, reporter.worker_name)
    except ApiError as exc:
        log.warning("cannot list the runs an earlier worker %s held: %s", reporter.worker_name,
                    exc.detail)  # fmt: skip
        return []
    lines: list[str] = []
    for run in runs:
        infra_id = run.get("infrastructure_pid")
        if infra_id:
            try:
                provider().cancel(infra_id)
            except InfrastructureError as exc:
                log.warning("run %s: stopping %s failed: %s", run["id"], infra_id, exc.detail)
        message = (
            f"The worker {reporter.worker_name} restarted and no longer tracks attempt "
            f"{run['attempt']}" + (f"; stopped {infra_id}" if infra_id else "") + "."
        )
        final = "CANCELLED" if run["state_type"] == "CANCELLING" else "CRASHED"
        try:
            if reporter.final((run["id"], run["attempt"]), final, message):
                lines.append(f"{run['name']} ({run['id']}): {message}")
        except ApiError as exc:
            log.warning("run %s: could not report %s: %s", run["id"], final, exc.detail)
    for line in lines:
        log.info("ended on restart: %s", line)
    return lines
