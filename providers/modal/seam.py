"""The Modal seam: the ``ModalClient`` Protocol and the states that cross it.

The requests that cross it are ``request``'s, its error is ``errors.ModalError``.
The provider speaks only these; ``sdk_client.SdkModalClient`` implements the
Protocol with the ``modal`` SDK, and tests implement it with
``tests/fakes/modal_client.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from providers.modal.request import FunctionRequest, SandboxRequest

CallStatus = Literal[
    "pending", "running", "success", "failure", "init_failure", "terminated", "timeout"
]


@dataclass(frozen=True)
class CallState:
    """What Modal knows about one function call."""

    status: CallStatus
    result: Any = None  # the function's return value, on success
    message: str = ""  # the exception or failure text, otherwise


@dataclass(frozen=True)
class SandboxState:
    returncode: int | None  # None while it runs
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutputEntry:
    """One line Modal logged for a call or sandbox (``modal.types.LogEntry``'s fields we use)."""

    timestamp: datetime
    message: str
    source: str  # "stdout", "stderr" or "system"


@runtime_checkable
class ModalClient(Protocol):
    """The few Modal operations pushpool needs.  Raise ``ModalError`` on failure."""

    def recorded_call(self, key: str) -> str | None: ...
    def record_call(self, key: str, call_id: str) -> str:
        """Record ``call_id`` under ``key`` unless one is already; return the recorded id."""
        ...

    def spawn(self, request: FunctionRequest) -> str: ...
    def call_state(self, call_id: str) -> CallState: ...
    def cancel_call(self, call_id: str) -> None: ...
    def find_sandbox(self, request: SandboxRequest, name: str) -> str | None:
        """The id of the sandbox named ``name`` in the request's app, finished ones included."""
        ...

    def create_sandbox(self, request: SandboxRequest, name: str) -> str:
        """Create the named sandbox, or return the one that already holds the name."""
        ...

    def sandbox_state(self, sandbox_id: str) -> SandboxState: ...
    def tag_sandbox(self, sandbox_id: str, tags: Mapping[str, str]) -> None: ...
    def terminate_sandbox(self, sandbox_id: str) -> None: ...
    def read_output(
        self, infra_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[OutputEntry]:
        """At most ``limit`` of the call's or sandbox's lines stamped in ``[since, until]``,
        oldest first."""
        ...
