"""A provider that records when each submission reached it (the benchmarks' seam).

The latency benchmarks measure the control plane up to the provider's
``submit`` call; what a cloud does after that is the cloud's.  This
provider notes the wall-clock time of each call, keyed by flow run, and
reports the infrastructure as exited after ``hold`` seconds, so slots free
as they would when real jobs finish.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.ports import InfraPhase, InfraStatus, Job


@dataclass(frozen=True)
class Submission:
    run_id: str
    attempt: int
    at: datetime
    monotonic: float


class RecordingProvider:
    emits_events = False
    supports_polling = True

    def __init__(self, *, hold: float = 0.0) -> None:
        self.hold = hold
        self.submissions: dict[str, Submission] = {}
        self.duplicates = 0
        self._started: dict[str, float] = {}
        self._cond = threading.Condition()

    def build_request(self, job: Job) -> dict[str, Any]:
        return {"run_id": job.run_id, "attempt": job.attempt, "configuration": job.configuration}

    def submit(self, request: dict[str, Any], *, idempotency_key: str) -> str:
        now, tick = datetime.now(UTC), time.monotonic()
        with self._cond:
            if idempotency_key in self._started:
                self.duplicates += 1
            else:
                self._started[idempotency_key] = tick
                self.submissions.setdefault(
                    request["run_id"],
                    Submission(request["run_id"], request["attempt"], now, tick),
                )
            self._cond.notify_all()
        return f"rec-{idempotency_key}"

    def status(self, infra_id: str) -> InfraStatus:
        started = self._started.get(infra_id.removeprefix("rec-"))
        if started is None:
            return InfraStatus(phase=InfraPhase.CRASHED, reason="unknown to the recorder")
        if time.monotonic() - started < self.hold:
            return InfraStatus(phase=InfraPhase.RUNNING)
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=0)

    def cancel(self, infra_id: str) -> None:
        self._started.pop(infra_id.removeprefix("rec-"), None)

    def wait_for(self, run_id: str, timeout: float) -> Submission | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while run_id not in self.submissions:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self.submissions[run_id]

    def wait_count(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.submissions) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return len(self.submissions)
