"""Watching started runs: RUNNING, the final state, and cancellation.

One pass reads the state of every started run in one request (so a
cancellation or the run's own final report is seen) and asks the provider
about each infrastructure, then proposes what follows (``core.rules.infra``'s exit
mapping: exit 0 → COMPLETED, non-zero → FAILED "exited with code N", failed
to start / killed / vanished → CRASHED):

* PENDING and the infrastructure runs → RUNNING;
* the infrastructure stopped → the final state, unless the run already
  reported its own (then the proposal is refused, which is fine);
* CANCELLING → stop the infrastructure, then CANCELLED;
* ended by someone else (forced CANCELLED or CRASHED, the reaper) while the
  infrastructure still runs → stop it: no slot accounts for it any more.

Stopping can take a while (a process gets a grace period before SIGKILL), so
it happens in a thread of its own and the pass moves on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.errors import InfrastructureError
from core.ports import Clock, InfraPhase, InfraStatus, Provider
from core.rules.infra import final_state
from handlers.worker.api import WorkerApi
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.reporter import Reporter
from pushpool.client import ApiError
from pushpool.types import FlowRun

log = logging.getLogger("pushpool.worker")

TERMINAL = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
ALIVE = frozenset({InfraPhase.PENDING, InfraPhase.RUNNING})


class Monitor:
    def __init__(
        self,
        *,
        client: WorkerApi,
        reporter: Reporter,
        provider: Callable[[], Provider],
        ledger: Ledger,
        clock: Clock,
    ) -> None:
        self.client = client
        self.reporter = reporter
        self.provider = provider
        self.ledger = ledger
        self.clock = clock
        self._pass = threading.Lock()  # a pass and ``abandon`` never interleave

    def tick(self) -> None:
        """One pass over the started runs; API trouble waits for the next pass."""
        with self._pass:
            self._tick()

    def _tick(self) -> None:
        started = [e for e in self.ledger.started() if not e.stopping_infra]
        if not started:
            return
        try:
            found = self.client.read_runs([e.run_id for e in started])
        except ApiError as exc:
            log.warning("cannot read the state of running flow runs: %s", exc.detail)
            return
        runs = {run["id"]: run for run in found}
        for execution in started:
            try:
                self._check(execution, runs.get(execution.run_id))
            except ApiError as exc:
                log.warning("run %s: %s", execution.run_id, exc.detail)

    def _check(self, execution: Execution, run: FlowRun | None) -> None:
        if run is None:
            log.info("run %s was deleted; stopping its infrastructure", execution.run_id)
            self._stop(execution)
            return
        state = str(run["state_type"])
        if run.get("attempt", execution.attempt) != execution.attempt:
            # The run went on to another attempt (reaped as a dead claim and
            # claimed anew): this one's infrastructure must not run beside it.
            state = "SCHEDULED"
        if state == "CANCELLING":
            self._stop(execution, then="CANCELLED")
            return
        status = self._status(execution)
        if status is None:
            return
        alive = status.phase in ALIVE
        if state in TERMINAL or state in ("SCHEDULED", "PAUSED"):
            self._moved_on(execution, state, alive=alive)
            return
        if state == "PENDING" and (
            status.phase is InfraPhase.RUNNING or status.phase is InfraPhase.EXITED
        ):
            self.reporter.running(execution.key, _id(execution))
        if alive:
            return
        final = final_state(status, now=self.clock())
        self.reporter.final(execution.key, final.type.value, final.message)
        log.info("run %s (%s) ended %s: %s", execution.run_name, execution.run_id,
                 final.type.value, final.message.splitlines()[0])  # fmt: skip
        self.ledger.release(execution)

    def _status(self, execution: Execution) -> InfraStatus | None:
        try:
            return self.provider().status(_id(execution))
        except InfrastructureError as exc:
            log.warning("run %s: cannot read %s: %s", execution.run_id, execution.infra_id,
                        exc.detail)  # fmt: skip
            return None

    def _moved_on(self, execution: Execution, state: str, *, alive: bool) -> None:
        """The run ended (or went back) without this worker: let go of it.

        Its own final report (COMPLETED, FAILED) means the infrastructure is
        about to exit; it keeps its place here until it does.  Anything else
        (forced, reaped) means no slot accounts for it: stop it.
        """
        if not alive:
            self.ledger.release(execution)
        elif state not in ("COMPLETED", "FAILED"):
            log.info("run %s is %s; stopping %s", execution.run_id, state, execution.infra_id)
            self._stop(execution)

    def _stop(self, execution: Execution, *, then: str | None = None) -> None:
        """Stop the infrastructure in a thread; then report ``then`` and let go."""
        execution.stopping_infra = True

        def work() -> None:
            try:
                self.provider().cancel(_id(execution))
                if then is not None:
                    message = "Infrastructure stopped after cancellation."
                    self.reporter.final(execution.key, then, message)
                    log.info("run %s (%s) %s", execution.run_name, execution.run_id, then)
            except (InfrastructureError, ApiError) as exc:
                log.warning("run %s: stopping failed, will retry: %s", execution.run_id, exc)
                execution.stopping_infra = False  # the next pass tries again
                return
            self.ledger.release(execution)

        threading.Thread(target=work, name=f"stop-{execution.run_id}", daemon=True).start()

    def abandon(self, message: str) -> list[str]:
        """At shutdown, after the grace period: stop what still runs and crash it
        (nobody would be left to report how it ends).  Returns a line per run."""
        lines: list[str] = []
        with self._pass:  # a pass in flight finishes first: what it ends is not crashed
            # Runs already being stopped (cancelled) are left to their stop thread.
            started = [e for e in self.ledger.started() if not e.stopping_infra]
            for execution in started:
                execution.stopping_infra = True  # later passes leave these to us
        for execution in started:
            try:
                self.provider().cancel(_id(execution))
            except InfrastructureError as exc:
                log.warning("stopping %s failed: %s", execution.infra_id, exc.detail)
            try:
                if self.reporter.crash(execution.key, message):
                    lines.append(f"{execution.run_name} ({execution.run_id}): stopped, CRASHED")
            except ApiError as exc:
                log.warning("run %s: could not report CRASHED: %s", execution.run_id, exc)
            self.ledger.release(execution)
        return lines


def _id(execution: Execution) -> str:
    assert execution.infra_id is not None
    return execution.infra_id
