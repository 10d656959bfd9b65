"""Stopping the infrastructure of runs being cancelled (design §5, "Cancelling
a run stops its infrastructure and ends CANCELLED").

``flow-run cancel`` moves a started run to CANCELLING; nothing in the API can
reach the infrastructure, so whoever holds the pool's provider stops it: the
dispatcher pass in the cloud (the API's trigger and the tick's safety net
send one), the observe loop locally.  The run keeps its slots until the
provider confirms the stop — an ECS STOPPED event, or a poll for providers
without events, which this does at once so those runs need not wait a tick.

Stopping is idempotent (the providers treat stopped or vanished
infrastructure as done), so a duplicate request costs a status call and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import InfrastructureError
from core.models import FlowRun
from core.ports import Clock, Provider, Store
from core.services.observe import Observed, apply_status
from core.states import StateType


@dataclass(frozen=True)
class StopOutcome:
    run_id: str
    infrastructure_pid: str
    error: str = ""  # why the stop failed (the next pass tries again)
    observed: Observed | None = None  # what a follow-up poll changed


def needs_stop(run: FlowRun) -> bool:
    return run.state.type is StateType.CANCELLING and bool(run.infrastructure_pid)


def stop_cancelling(
    store: Store, runs: Iterable[FlowRun], provider: Provider, *, clock: Clock
) -> list[StopOutcome]:
    """Stop the infrastructure of every CANCELLING run among ``runs``."""
    outcomes: list[StopOutcome] = []
    for run in runs:
        if not needs_stop(run):
            continue
        infra_id = run.infrastructure_pid
        assert infra_id is not None
        try:
            provider.cancel(infra_id)
            observed = None
            if not provider.emits_events and provider.supports_polling:
                status = provider.status(infra_id)
                observed = apply_status(
                    store, run_id=run.id, infra_id=infra_id, status=status, clock=clock
                )
        except InfrastructureError as exc:
            outcomes.append(StopOutcome(run.id, infra_id, error=exc.detail))
            continue
        outcomes.append(StopOutcome(run.id, infra_id, observed=observed))
    return outcomes
