"""The infrastructure-events function: EventBridge "ECS Task State Change".

The stack's rule forwards only tasks started by pushpool (``startedBy``
begins with ``pushpool``), and of their changes only RUNNING (while meant
to run) and STOPPED: the two that move a run, of ECS's about 9 (PENDING only
renamed the state; docs/decisions.md).  ``providers.ecs.status.task_change`` finds the run and
attempt from the task's group and maps its state (PENDING/PROVISIONING →
InfrastructurePending, RUNNING → RUNNING, STOPPED → COMPLETED / FAILED with
the exit code / CRASHED with ECS's reason / CANCELLED after a cancel); the
cloud profile's ``Lifecycle.apply_status`` (``handlers.profiles``) applies
it, so a duplicate, late or out-of-order event, or one about an attempt the
run has moved past, changes nothing.  When the change frees the run's slots, a dispatch message for its
pool admits the next waiting run at once instead of at the next tick.

A store error propagates: EventBridge retries the event (then sends it to
the dead-letter queue), and applying it again is safe.
"""

from __future__ import annotations

import logging
from typing import Any

from core.states import StateType
from handlers.aws import logs
from handlers.aws.observability import (
    metrics,
    record_infrastructure_crash,
    traced_handler,
)
from handlers.bootstrap import bootstrap
from handlers.observability import log_context
from handlers.profiles import Profile
from providers.ecs.status import TaskChange, task_change

log = logging.getLogger("pushpool.infra_events")


@traced_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (EventBridge rule on ECS task state changes)."""
    logs.configure()
    metrics.set_default_dimensions(function="infra_events")
    change = task_change(event)
    if change is None:
        return {"applied": False, "reason": "not a task pushpool started"}
    with log_context(run_id=change.run_id, attempt=change.attempt):
        return _apply(change)


def _apply(change: TaskChange) -> dict[str, Any]:
    container = bootstrap()
    lifecycle = container.services(Profile.CLOUD).lifecycle
    observed = lifecycle.apply_status(
        run_id=change.run_id,
        infra_id=change.infra_id,
        status=change.status,
        attempt=change.attempt,
    )
    if observed is None:
        log.info("event for run %s (%s) changed nothing", change.run_id, change.status.phase)
        return {"applied": False, "run_id": change.run_id, "reason": "nothing new"}
    log.info("run %s: %s -> %s %s", observed.run_id, observed.was, observed.now, observed.message)
    if observed.now is StateType.CRASHED:
        record_infrastructure_crash()
    if observed.released_slot and lifecycle.slot_awaited(observed.pool_id):
        container.trigger.request_dispatch(observed.pool_name)
    return {
        "applied": True,
        "run_id": observed.run_id,
        "state": observed.now.value,
        "released_slot": observed.released_slot,
    }
