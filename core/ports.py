"""The ports: small Protocols the domain needs from the outside world.

Adapters live in ``core.store`` (storage) and ``providers`` (infrastructure);
``handlers.bootstrap`` wires them.  Time and ids are ports too, so the domain
never calls ``datetime.now()`` or ``uuid4()`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from core.logs import LogLine
from core.models import (
    JSON,
    Deployment,
    Flow,
    FlowRun,
    Token,
    Worker,
    WorkPool,
    WorkQueue,
)
from core.states import State, StateType

Clock = Callable[[], datetime]
"""Returns the current time as an aware UTC datetime."""

IdFactory = Callable[[], str]
"""Returns a new unique id (a uuid4 string in production)."""


class SlotCounters(BaseModel):
    """Slots held right now, as the store's counters say."""

    model_config = ConfigDict(frozen=True)

    pool_active: int
    queue_active: dict[str, int] = Field(default_factory=dict)


class CounterRepair(BaseModel):
    """One counter the reaper found wrong and corrected."""

    model_config = ConfigDict(frozen=True)

    pool_id: str
    queue_id: str | None  # None for the pool counter
    was: int
    now: int


class Again(StrEnum):
    """What a dispatch request that found the pool's lease held asks of its holder."""

    ADMIT = "admit"  # due work or a freed slot: admit once more
    RESUME = "resume"  # also look after active runs (stalled claims, cancellations)


class ScheduleProgress(BaseModel):
    """A deployment whose schedule the tick should extend, and how far it got."""

    model_config = ConfigDict(frozen=True)

    deployment: Deployment
    # Every firing before this time has its run; None: the deployment was
    # created or written since its schedule was last materialised (so runs
    # of an earlier schedule may exist, and none of this one is assumed to).
    materialised_until: datetime | None


class PoolStore(Protocol):
    """Work pools, and what a dispatch pass records on its pool."""

    def create_pool(self, pool: WorkPool, default_queue: WorkQueue) -> None: ...
    def get_pool(self, name: str) -> WorkPool: ...
    def get_pool_by_id(self, pool_id: str) -> WorkPool: ...
    def list_pools(self) -> list[WorkPool]: ...
    def update_pool(self, pool: WorkPool) -> WorkPool: ...
    def delete_pool(self, pool: WorkPool) -> None:
        """Delete the pool with its queues, workers and SCHEDULED runs."""
        ...

    def record_dispatch(self, pool_id: str, at: datetime) -> None: ...
    def record_dispatch_problem(self, pool_id: str, problem: str | None) -> None:
        """Set (or, with None, clear) ``WorkPool.dispatch_problem`` without a version bump."""
        ...


class QueueStore(Protocol):
    """A pool's work queues."""

    def create_queue(self, queue: WorkQueue) -> None: ...
    def get_queue(self, pool_id: str, name: str) -> WorkQueue: ...
    def get_queue_by_id(self, queue_id: str) -> WorkQueue: ...
    def list_queues(self, pool_id: str) -> list[WorkQueue]:
        """The pool's queues ordered by priority."""
        ...

    def update_queues(self, queues: Sequence[WorkQueue]) -> list[WorkQueue]:
        """Write several queues of one pool atomically (a priority reshuffle)."""
        ...

    def delete_queue(self, queue: WorkQueue) -> None: ...
    def record_poll(self, pool_id: str, queue_ids: Sequence[str], at: datetime) -> None:
        """Set ``last_polled`` without a version bump (a poll is not an edit)."""
        ...


class WorkerStore(Protocol):
    """Heartbeats of the workers serving a pool."""

    def heartbeat(
        self, pool_id: str, name: str, *, at: datetime, interval_seconds: int | None
    ) -> Worker: ...
    def list_workers(self, pool_id: str) -> list[Worker]: ...
    def delete_worker(self, pool_id: str, name: str) -> None: ...


class CatalogStore(Protocol):
    """Flows, deployments and how far their schedules are materialised; tokens
    and small cached values."""

    def ensure_flow(self, flow: Flow) -> Flow:
        """Create the flow, or return the existing one with the same name."""
        ...

    def get_flow(self, flow_id: str) -> Flow: ...
    def create_deployment(self, deployment: Deployment) -> None: ...
    def get_deployment(self, deployment_id: str) -> Deployment: ...
    def find_deployment(self, flow_name: str, name: str) -> Deployment: ...
    def list_deployments(self, *, pool_name: str | None = None) -> list[Deployment]: ...
    def update_deployment(self, deployment: Deployment) -> Deployment: ...
    def delete_deployment(self, deployment: Deployment) -> None: ...
    def deployments_to_schedule(self, before: datetime, *, limit: int) -> list[ScheduleProgress]:
        """Deployments whose schedule is materialised only up to a time earlier
        than ``before`` (those created or written since their last
        materialisation first), earliest first, at most ``limit``.  Reads
        only these, however many deployments there are: creating or
        updating a deployment puts it here, ``mark_materialised`` moves or
        removes it."""
        ...

    def mark_materialised(self, deployment: Deployment, *, until: datetime | None) -> bool:
        """Record that every firing of ``deployment``'s schedule before
        ``until`` has its run (None: nothing to materialise until the
        deployment is written again).  Only if the stored deployment still
        has ``deployment.version``; False (and no change) if it was written
        or deleted since, so a tick never hides a change it did not see."""
        ...

    def put_token(self, token: Token) -> None: ...
    def find_token(self, secret_hash: str) -> Token | None: ...
    def get_cached(self, key: str) -> str | None: ...
    def put_cached(self, key: str, value: str) -> None: ...


class RunStore(Protocol):
    """Creating and reading flow runs: by filter, due, slot holders."""

    def create_run(self, run: FlowRun) -> bool:
        """Create the run; False (and no change) if its id already exists."""
        ...

    def get_run(self, run_id: str) -> FlowRun: ...
    def list_runs(
        self,
        *,
        pool_id: str | None = None,
        queue_ids: Sequence[str] | None = None,
        deployment_id: str | None = None,
        state_types: Sequence[StateType] | None = None,
        limit: int = 200,
    ) -> list[FlowRun]:
        """Runs matching every given filter, newest scheduled time first."""
        ...

    def list_due(
        self,
        pool_id: str,
        before: datetime,
        *,
        queue_id: str | None = None,
        limit: int | None = None,
    ) -> list[FlowRun]:
        """SCHEDULED runs of the pool due at or before ``before``, in
        (scheduled time, run id) order; only ``queue_id``'s if given, and
        only the first ``limit`` if given (a dispatcher pass reads no more
        than its free slots can release)."""
        ...

    def has_due(self, pool_id: str, before: datetime) -> bool:
        """Whether the pool has any SCHEDULED run due at or before ``before``
        (reads at most a few runs, however many are due)."""
        ...

    def due_pools(self, before: datetime) -> dict[str, datetime]:
        """Pool id -> earliest due time, over SCHEDULED runs due by ``before``."""
        ...

    def list_active(self, pool_id: str | None = None) -> list[FlowRun]:
        """Runs holding slots (PENDING, RUNNING, CANCELLING)."""
        ...


class SlotStore(Protocol):
    """Moving runs between states with their pool and queue slots, atomically."""

    def claim(self, run: FlowRun, *, state: State, lease_expires: datetime) -> FlowRun:
        """SCHEDULED -> PENDING, taking a pool and a queue slot, atomically.

        Raises ``Conflict`` if the run changed since it was read or is no
        longer SCHEDULED, ``CapacityFull`` if a limit is reached or the pool
        or queue is paused.
        """
        ...

    def record_state(self, run: FlowRun, state: State) -> FlowRun:
        """Move ``run`` to ``state`` (see ``core.rules.runs.transition``), taking or
        releasing slots in the same write when slot-holding changes."""
        ...

    def mark_submitted(self, run: FlowRun, *, infrastructure_pid: str, at: datetime) -> FlowRun:
        """Record the infrastructure id of a PENDING run and end its lease."""
        ...

    def counters(self, pool_id: str) -> SlotCounters: ...
    def repair_counters(self, pool_id: str) -> list[CounterRepair]:
        """Recount slots from the runs; fix and report every counter that drifted."""
        ...


class TurnStore(Protocol):
    """One dispatcher per pool at a time (``core.services.pool_turns``)."""

    def take_dispatch_turn(
        self, pool_id: str, holder: str, *, at: datetime, until: datetime, again: Again
    ) -> bool:
        """Take the pool's dispatch lease until ``until`` if it is free, expired
        (``expires <= at``) or ``holder``'s already, recording ``at`` as the
        pool's last dispatch (what ``record_dispatch`` does) in the same
        write; True if taken.  Otherwise mark the running lease to pass
        ``again`` (RESUME outranks ADMIT) and return False.  Raises
        ``NotFound`` if the pool is gone."""
        ...

    def end_dispatch_turn(
        self, pool_id: str, holder: str, *, until: datetime | None
    ) -> Again | None:
        """Release ``holder``'s lease and return None; but if another pass was
        asked for meanwhile, clear the mark, keep the lease until ``until``
        and return the mark: the holder passes again.  ``until=None``
        releases even then, returning the mark it dropped.  None as well if
        the lease is no longer ``holder``'s (it expired and was taken)."""
        ...


class Store(
    PoolStore, QueueStore, WorkerStore, CatalogStore, RunStore, SlotStore, TurnStore, Protocol
):
    """Everything pushpool persists, with methods named for what they do.

    Every method that changes state is one conditional write (a DynamoDB
    transaction or one SQLite ``BEGIN IMMEDIATE`` transaction).  Writes of
    versioned objects succeed only if the stored ``version`` equals the
    passed object's ``version``; the stored result has ``version + 1``.
    Errors: ``NotFound``, ``Conflict`` (duplicate, stale version, wrong
    state), ``CapacityFull`` (limit reached), ``Transient`` (retry).

    Each subject is a port of its own above, so a store is composed of one
    part per subject (``core.store.composed``).
    """


@runtime_checkable
class LogStore(Protocol):
    """Run log lines, kept with a retention (see ``core.logs``).

    Lines are keyed by ``LogLine.key``; appending a line whose key is already
    stored changes nothing, so a retried batch is harmless.  SQLite keeps at
    most a cap of lines per run and in total (the oldest go first); DynamoDB
    expires each line its retention after it was written (TTL).
    """

    def append_logs(self, lines: Sequence[LogLine]) -> None: ...
    def read_logs(
        self, run_id: str, *, after: str | None = None, limit: int, newest_first: bool = False
    ) -> list[LogLine]:
        """Up to ``limit`` of the run's lines whose key is above ``after``.

        ``after`` is a cursor (a line's key, or ``core.logs.cursor_at(t)``).
        Oldest first (key order); ``newest_first`` gives the last ``limit``
        lines instead, newest first (a tail).
        """
        ...


class PoolMode(StrEnum):
    PULL = "pull"
    PUSH = "push"
    MANAGED = "managed"


class PoolTypes(Protocol):
    """The catalogue of pool types (``providers.registry`` implements it)."""

    def known(self) -> list[str]: ...
    def mode(self, pool_type: str) -> PoolMode: ...
    def default_template(self, pool_type: str) -> JSON: ...


# -- infrastructure -------------------------------------------------------------


class Job(BaseModel):
    """What a provider is asked to run: one attempt of one flow run."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    attempt: int
    run_name: str
    pool_name: str
    pool_type: str
    deployment_id: str | None
    configuration: JSON  # rendered job_configuration with injected values

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}-{self.attempt}"


class InfraPhase(StrEnum):
    PENDING = "PENDING"  # accepted, provisioning
    RUNNING = "RUNNING"
    EXITED = "EXITED"  # ran and stopped; see exit_code
    CRASHED = "CRASHED"  # failed to start, OOM-killed, vanished
    CANCELLED = "CANCELLED"


class InfraStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: InfraPhase
    exit_code: int | None = None
    reason: str = ""


class Provider(Protocol):
    """One infrastructure.  ``build_request`` is pure; the rest do I/O.

    Errors are ``InfrastructureError`` with ``retryable`` set honestly.
    """

    emits_events: bool
    supports_polling: bool

    def build_request(self, job: Job) -> Any: ...
    def submit(self, request: Any, *, idempotency_key: str) -> str: ...
    def status(self, infra_id: str) -> InfraStatus: ...
    def cancel(self, infra_id: str) -> None: ...


class OutputLine(BaseModel):
    """One line of what a run's infrastructure printed, as the provider saw it."""

    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    message: str
    level: int = 20


class LogChunk(BaseModel):
    """What a provider read of an infrastructure's output after a cursor.

    ``cursor`` is opaque (a line number, a CloudWatch token, a timestamp):
    pass it back to read on.  ``dropped`` counts lines the provider no
    longer had (its bounded buffer overflowed, or the source expired them).
    """

    model_config = ConfigDict(frozen=True)

    lines: tuple[OutputLine, ...] = ()
    cursor: str | None = None
    dropped: int = 0


@runtime_checkable
class LogSource(Protocol):
    """The optional capability of a provider that can read its infrastructure's
    output.  A provider declares it with ``supports_logs = True``; callers ask
    ``log_source(provider)`` instead of probing for the method."""

    supports_logs: bool

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk: ...


def log_source(provider: object) -> LogSource | None:
    """The provider as a ``LogSource`` if it declares the capability, else None."""
    if getattr(provider, "supports_logs", False) and isinstance(provider, LogSource):
        return provider
    return None


class DispatchTrigger(Protocol):
    """Asks for a dispatch pass over one pool, now or at a given time.

    ``look_after`` asks the pass to also look after the pool's active runs
    (stop the infrastructure of cancelled ones, resume stalled claims), which
    costs a read of all of them; a pass that only admits does not need it.
    """

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None: ...
