"""Test doubles for the provider port the services use (the clock is in ``tests.clock``).

``RecordingProvider`` behaves as the design asks of real providers (one
infrastructure per idempotency key: a repeated submit returns the one it
already started) and records everything, so tests can assert "no run was
submitted twice" as "no run has more than one infrastructure".  Faults are
injected per call: a terminal or retryable error before anything starts, or
an *ambiguous* failure that starts the infrastructure and then errors (a
timeout after the cloud accepted the request).  ``Untouchable`` fails the
test on any use, for a pool a handler must leave alone.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import InfrastructureError
from core.models import FlowRun, WorkPool
from core.ports import InfraPhase, InfraStatus, Job


@dataclass
class Infra:
    infra_id: str
    run_id: str
    attempt: int
    request: dict[str, Any]
    phase: InfraPhase = InfraPhase.PENDING
    exit_code: int | None = None
    reason: str = ""


@dataclass
class Fault:
    error: InfrastructureError
    after_start: bool = False  # ambiguous: the infrastructure starts anyway


class Untouchable:
    """A provider the code under test must never use: any call fails the test."""

    emits_events = False
    supports_polling = True

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"provider.{name} must not be called here")


class RecordingProvider:
    """A Provider that keeps one infrastructure per idempotency key."""

    emits_events = False
    supports_polling = True

    def __init__(self) -> None:
        self.infras: dict[str, Infra] = {}
        self.by_key: dict[str, str] = {}
        self.submit_calls: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self._lock = threading.Lock()

    # -- faults ---------------------------------------------------------------------
    def fail(self, run_id: str, *, retryable: bool, after_start: bool = False, times: int = 1):
        kind = "throttled (retry later)" if retryable else "invalid subnet subnet-123"
        for _ in range(times):
            error = InfrastructureError(kind, retryable=retryable)
            self.faults[run_id].append(Fault(error, after_start=after_start))

    # -- the Provider port ----------------------------------------------------------------
    def build_request(self, job: Job) -> dict[str, Any]:
        return {"run_id": job.run_id, "attempt": job.attempt, "config": job.configuration}

    def submit(self, request: dict[str, Any], *, idempotency_key: str) -> str:
        run_id = request["run_id"]
        with self._lock:
            self.submit_calls[idempotency_key] += 1
            fault = self.faults[run_id].pop(0) if self.faults[run_id] else None
            if fault is not None and not fault.after_start:
                raise fault.error
            infra_id = self.by_key.get(idempotency_key)
            if infra_id is None:
                infra_id = f"infra-{idempotency_key}"
                self.by_key[idempotency_key] = infra_id
                self.infras[infra_id] = Infra(infra_id, run_id, request["attempt"], request)
            if fault is not None:
                raise fault.error
            return infra_id

    def status(self, infra_id: str) -> InfraStatus:
        infra = self.infras.get(infra_id)
        if infra is None:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"{infra_id} no longer exists")
        return InfraStatus(phase=infra.phase, exit_code=infra.exit_code, reason=infra.reason)

    def cancel(self, infra_id: str) -> None:
        with self._lock:
            self.cancelled.append(infra_id)
            infra = self.infras.get(infra_id)
            if infra is not None and infra.phase in (InfraPhase.PENDING, InfraPhase.RUNNING):
                infra.phase = InfraPhase.CANCELLED

    # -- driving the "cloud" ------------------------------------------------------------------
    def finish(self, infra_id: str, exit_code: int = 0) -> None:
        infra = self.infras[infra_id]
        infra.phase, infra.exit_code = InfraPhase.EXITED, exit_code

    def start(self, infra_id: str) -> None:
        self.infras[infra_id].phase = InfraPhase.RUNNING

    def vanish(self, infra_id: str) -> None:
        del self.infras[infra_id]

    # -- what happened -----------------------------------------------------------------------
    def infrastructures_per_run(self) -> Counter[str]:
        return Counter(infra.run_id for infra in self.infras.values())

    def live(self) -> list[Infra]:
        alive = (InfraPhase.PENDING, InfraPhase.RUNNING)
        return [i for i in self.infras.values() if i.phase in alive]


@dataclass
class Triggers:
    """A DispatchTrigger that records what it was asked to do."""

    requests: list[tuple[str, datetime | None]] = field(default_factory=list)
    looked_after: list[str] = field(default_factory=list)  # pools asked to look after active runs

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        self.requests.append((pool_name, not_before))
        if look_after:
            self.looked_after.append(pool_name)


def token_for(run: FlowRun) -> str:
    return f"token-{run.id}-{run.attempt}"


def provider_factory(provider: RecordingProvider):  # type: ignore[no-untyped-def]
    def provider_for(pool: WorkPool) -> RecordingProvider:
        return provider

    return provider_for


class HookedStore:
    """A store whose methods can run hooks around the real call.

    ``before(name, hook)`` runs ``hook(*args, **kwargs)`` before the real
    method, ``after(name, hook)`` runs ``hook(result)`` once it has
    committed; raising from either injects a failure at exactly that step
    boundary.  Hooks are one-shot unless ``sticky``.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hooks: dict[tuple[str, str], Any] = {}
        self.sticky: set[tuple[str, str]] = set()
        self.calls: Counter[str] = Counter()

    def before(self, name: str, hook: Any, *, sticky: bool = False) -> None:
        self._add(("before", name), hook, sticky)

    def after(self, name: str, hook: Any, *, sticky: bool = False) -> None:
        self._add(("after", name), hook, sticky)

    def _add(self, key: tuple[str, str], hook: Any, sticky: bool) -> None:
        self.hooks[key] = hook
        if sticky:
            self.sticky.add(key)

    def _take(self, key: tuple[str, str]) -> Any:
        return self.hooks.get(key) if key in self.sticky else self.hooks.pop(key, None)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            hook = self._take(("before", name))
            if hook is not None:
                hook(*args, **kwargs)
            result = method(*args, **kwargs)
            hook = self._take(("after", name))
            if hook is not None:
                hook(result)
            return result

        return call


class Crash(Exception):
    """Stands for the process dying at a step boundary (not a PushpoolError)."""
