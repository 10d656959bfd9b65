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

from pushpool.client import ApiError, Client

log = logging.getLogger("pushpool.worker")

ACCEPT = "ACCEPT"


class Reporter:
    """Proposes states for runs on behalf of one named worker."""

    def __init__(self, client: Client, worker_name: str) -> None:
        self.client = client
        self.worker_name = worker_name

    def _propose(
        self,
        run_id: str,
        state_type: str,
        *,
        message: str,
        scheduled_time: datetime | None = None,
    ) -> bool:
        """True when the API accepted the state; False when it refused it."""
        try:
            result: dict[str, Any] = self.client.set_state(
                run_id, state_type, message=message, scheduled_time=scheduled_time
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

    def claim(self, run_id: str) -> bool:
        """Propose PENDING: the atomic claim.  False: someone else got it, or a
        limit is full (the API says which; both are normal)."""
        return self._propose(run_id, "PENDING", message=f"Claimed by worker {self.worker_name}.")

    def running(self, run_id: str, infra_id: str) -> bool:
        return self._propose(
            run_id, "RUNNING", message=f"Running as {infra_id} (worker {self.worker_name})."
        )

    def final(self, run_id: str, state_type: str, message: str) -> bool:
        return self._propose(run_id, state_type, message=message)

    def crash(self, run_id: str, message: str) -> bool:
        return self._propose(run_id, "CRASHED", message=message)

    def hand_back(self, run_id: str, scheduled_time: datetime | None, *, why: str) -> bool:
        """Back to SCHEDULED (a new attempt) for another claim to pick it up."""
        return self._propose(
            run_id,
            "SCHEDULED",
            message=f"Handed back by worker {self.worker_name}: {why}.",
            scheduled_time=scheduled_time,
        )
