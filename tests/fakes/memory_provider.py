"""An in-memory provider and backend: the reference implementation of the contract.

It exists so the shared provider contract suite (``tests/providers/contract.py``)
has one implementation that is obviously right, and so service tests that
need "a provider" can use one without a cloud fake.  Its backend is a plain
object the test drives: start, exit, fail, vanish, or fail every request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job


@dataclass
class MemoryInfrastructure:
    infra_id: str
    key: str
    request: dict[str, Any]
    phase: InfraPhase = InfraPhase.PENDING
    exit_code: int | None = None
    reason: str = ""


@dataclass
class MemoryBackend:
    """What a cloud would hold: infrastructures by id, plus a request counter."""

    infrastructures: dict[str, MemoryInfrastructure] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    failure: InfrastructureError | None = None
    started: int = 0

    def call(self) -> None:
        """Count one request; raise the injected failure, if any."""
        self.requests += 1
        if self.failure is not None:
            raise self.failure


class MemoryProvider:
    """Keeps every promise of the contract against ``MemoryBackend``."""

    emits_events = False
    supports_polling = True

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend

    def build_request(self, job: Job) -> dict[str, Any]:
        return {
            "name": job.configuration.get("name") or job.run_name,
            "command": job.configuration.get("command"),
            "env": dict(job.configuration.get("env") or {}),
            "labels": {"pushpool.io/flow-run-id": job.run_id, "attempt": str(job.attempt)},
        }

    def submit(self, request: dict[str, Any], *, idempotency_key: str) -> str:
        self.backend.call()
        existing = self.backend.by_key.get(idempotency_key)
        if existing is not None:
            return existing
        infra_id = f"mem-{idempotency_key}"
        self.backend.infrastructures[infra_id] = MemoryInfrastructure(
            infra_id=infra_id, key=idempotency_key, request=request
        )
        self.backend.by_key[idempotency_key] = infra_id
        self.backend.started += 1
        return infra_id

    def status(self, infra_id: str) -> InfraStatus:
        self.backend.call()
        infra = self.backend.infrastructures.get(infra_id)
        if infra is None:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"{infra_id} no longer exists")
        return InfraStatus(phase=infra.phase, exit_code=infra.exit_code, reason=infra.reason)

    def cancel(self, infra_id: str) -> None:
        self.backend.call()
        infra = self.backend.infrastructures.get(infra_id)
        if infra is not None and infra.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            infra.phase = InfraPhase.CANCELLED
            infra.reason = "cancelled"


def make_provider(*, backend: MemoryBackend | None = None) -> MemoryProvider:
    return MemoryProvider(backend or MemoryBackend())
