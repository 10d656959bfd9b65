"""The worker's side of orchestration: every state it proposes, in one place.

The API decides; the worker proposes.  A refusal is normal traffic here, not
an error: a claim refused because another worker got the run first, or a
final state refused because the run already reported its own, changes
nothing and is logged at debug level.  Only an API that cannot be reached
or refuses the worker itself is worth a warning.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from handlers.worker.api import WorkerApi
from pushpool.client import ApiError

log = logging.getLogger("pushpool.worker")

ACCEPT = "ACCEPT"

Attempt = tuple[str, int]
"""(run id, attempt): what every report and stop is about."""


class Reporter:
    """Proposes states for runs on behalf of one named worker."""

    def __init__(self, client: WorkerApi, worker_name: str) -> None:
        self.client = client
        self.worker_name = worker_name

    def _propose(
        self,
        run: Attempt,
        state_type: str,
        *,
        message: str,
        scheduled_time: datetime | None = None,
        claim: bool = False,
    ) -> bool:
        """True when the API accepted the state; False when it refused it.
        Every proposal is fenced to the attempt this worker holds: one about
        an attempt the run has left changes nothing (issue 13)."""
        run_id, attempt = run
        try:
            result: dict[str, Any] = self.client.set_state(
                run_id,
                state_type,
                message=message,
                scheduled_time=scheduled_time,
                attempt=attempt,
                worker_name=self.worker_name if claim else None,
            )
        except ApiError as exc:
            if exc.status == 404:
                log.debug("run %s is gone; %s not recorded", run_id, state_type)
                return False
            raise
        if result.get("status") == ACCEPT:
            return True
        reason = (result.get("details") or {}).get("reason") or result.get("status")
        log.debug("run %s: %s not accepted: %s", run_id, state_type, reason)
        return False

    def claim(self, run: Attempt) -> bool:
        """Propose PENDING: the atomic claim, recording this worker as the owner
        (its heartbeat keeps the claim alive).  False: someone else got it, or
        a limit is full (the API says which; both are normal)."""
        message = f"Claimed by worker {self.worker_name}."
        return self._propose(run, "PENDING", message=message, claim=True)

    def running(self, run: Attempt, infra_id: str) -> bool:
        return self._propose(
            run, "RUNNING", message=f"Running as {infra_id} (worker {self.worker_name})."
        )

    def final(self, run: Attempt, state_type: str, message: str) -> bool:
        return self._propose(run, state_type, message=message)

    def crash(self, run: Attempt, message: str) -> bool:
        return self._propose(run, "CRASHED", message=message)

    def hand_back(self, run: Attempt, scheduled_time: datetime | None, *, why: str) -> bool:
        """Back to SCHEDULED (a new attempt) for another claim to pick it up."""
        return self._propose(
            run,
            "SCHEDULED",
            message=f"Handed back by worker {self.worker_name}: {why}.",
            scheduled_time=scheduled_time,
        )
