"""The Modal seam: plain values that cross it and the ``ModalClient`` Protocol.

The provider speaks only these; ``sdk_client.SdkModalClient`` implements the
Protocol with the ``modal`` SDK, and tests implement it with
``tests/fakes/modal_client.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

CallStatus = Literal[
    "pending", "running", "success", "failure", "init_failure", "terminated", "timeout"
]


@dataclass(frozen=True)
class Resources:
    cpu: float | None = None
    memory: int | None = None  # MiB, as Modal counts it
    gpu: str | None = None
    timeout: int | None = None  # seconds
    secrets: tuple[str, ...] = ()  # names of Modal secrets


@dataclass(frozen=True)
class FunctionRequest:
    app_name: str
    function_name: str
    environment_name: str | None
    parameters: dict[str, Any]
    env: dict[str, str]
    resources: Resources


@dataclass(frozen=True)
class SandboxRequest:
    app_name: str
    environment_name: str | None
    image: str
    command: tuple[str, ...]
    env: dict[str, str]
    resources: Resources
    workdir: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


ModalRequest = FunctionRequest | SandboxRequest


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


class ModalError(Exception):
    """A Modal call failed; says whether a retry can help and whether the object is gone."""

    def __init__(self, message: str, *, retryable: bool, not_found: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.not_found = not_found


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
