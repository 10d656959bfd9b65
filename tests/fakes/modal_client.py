"""A fake Modal at the ``providers.modal.seam.ModalClient`` seam.

Modal speaks gRPC to its control plane; faking that wire protocol would test
the fake more than the provider.  This is the one hand-written fake that
replaces a network (design §8): an in-memory Modal with deployed functions,
function calls, named sandboxes per app and the Dict pushpool records calls
in.  It behaves as the SDK adapter promises: unknown ids raise
``ModalError(not_found=True)``, a spawn on an undeployed function too, and a
sandbox name is unique within its app.

Tests drive calls and sandboxes with ``start``, ``finish``, ``raise_in``,
``fail_to_start`` and ``vanish``, and inject outages with ``fail_requests``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from providers.modal.errors import ModalError
from providers.modal.request import FunctionRequest, SandboxRequest
from providers.modal.seam import CallState, CallStatus, OutputEntry, SandboxState


@dataclass
class FakeCall:
    call_id: str
    request: FunctionRequest
    status: CallStatus = "pending"
    result: Any = None
    message: str = ""


@dataclass
class FakeSandbox:
    sandbox_id: str
    name: str
    request: SandboxRequest
    returncode: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeModal:
    """Implements ``ModalClient``; every method counts as one request."""

    deployed: set[tuple[str, str]] = field(default_factory=set)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    sandboxes: dict[str, FakeSandbox] = field(default_factory=dict)
    registry: dict[str, str] = field(default_factory=dict)
    output: dict[str, list[OutputEntry]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    failure: ModalError | None = None
    failing: frozenset[str] | None = None  # method names that fail; None: all
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def deploy(self, app_name: str, function_name: str) -> None:
        self.deployed.add((app_name, function_name))

    # -- controls ------------------------------------------------------------------------

    def fail_requests(
        self, *, retryable: bool, message: str, only: frozenset[str] | None = None
    ) -> None:
        self.failure = ModalError(message, retryable=retryable)
        self.failing = only

    def heal(self) -> None:
        self.failure = None

    def start(self, infra_id: str) -> None:
        if infra_id in self.calls:
            self.calls[infra_id].status = "running"
        # a created sandbox is already running

    def finish(self, infra_id: str, code: int) -> None:
        if infra_id in self.calls:
            call = self.calls[infra_id]
            call.status, call.result = "success", code
        else:
            self.sandboxes[infra_id].returncode = code

    def raise_in(self, call_id: str, message: str) -> None:
        call = self.calls[call_id]
        call.status, call.message = "failure", message

    def fail_to_start(self, call_id: str, message: str) -> None:
        call = self.calls[call_id]
        call.status, call.message = "init_failure", message

    def print(self, infra_id: str, text: str, *, at: datetime, source: str = "stdout") -> None:
        """The call or sandbox wrote ``text`` (one chunk, as Modal stores it) at ``at``."""
        self.output.setdefault(infra_id, []).append(
            OutputEntry(timestamp=at, message=text, source=source)
        )

    def vanish(self, infra_id: str) -> None:
        self.calls.pop(infra_id, None)
        self.sandboxes.pop(infra_id, None)

    @property
    def infrastructure_started(self) -> int:
        return len(self.calls) + len(self.sandboxes)

    # -- ModalClient -----------------------------------------------------------------------

    def _request(self, method: str) -> None:
        self.requests.append(method)
        if self.failure is not None and (self.failing is None or method in self.failing):
            raise self.failure

    def _call(self, call_id: str) -> FakeCall:
        if call_id not in self.calls:
            raise ModalError(f"Function call {call_id} not found", retryable=False, not_found=True)
        return self.calls[call_id]

    def _sandbox(self, sandbox_id: str) -> FakeSandbox:
        if sandbox_id not in self.sandboxes:
            raise ModalError(f"Sandbox {sandbox_id} not found", retryable=False, not_found=True)
        return self.sandboxes[sandbox_id]

    def recorded_call(self, key: str) -> str | None:
        with self._lock:
            self._request("recorded_call")
            return self.registry.get(key)

    def record_call(self, key: str, call_id: str) -> str:
        with self._lock:
            self._request("record_call")
            return self.registry.setdefault(key, call_id)

    def spawn(self, request: FunctionRequest) -> str:
        with self._lock:
            self._request("spawn")
            if (request.app_name, request.function_name) not in self.deployed:
                raise ModalError(
                    f"Lookup failed for Function '{request.function_name}' from the "
                    f"'{request.app_name}' app: App has not been deployed.",
                    retryable=False,
                    not_found=True,
                )
            call_id = f"fc-{next(self._ids):020d}"
            self.calls[call_id] = FakeCall(call_id, request)
            return call_id

    def call_state(self, call_id: str) -> CallState:
        with self._lock:
            self._request("call_state")
            call = self._call(call_id)
            return CallState(status=call.status, result=call.result, message=call.message)

    def cancel_call(self, call_id: str) -> None:
        with self._lock:
            self._request("cancel_call")
            call = self._call(call_id)
            if call.status in {"pending", "running"}:
                call.status = "terminated"

    def find_sandbox(self, request: SandboxRequest, name: str) -> str | None:
        with self._lock:
            self._request("find_sandbox")
            return next(
                (
                    s.sandbox_id
                    for s in self.sandboxes.values()
                    if s.name == name and s.request.app_name == request.app_name
                ),
                None,
            )

    def create_sandbox(self, request: SandboxRequest, name: str) -> str:
        with self._lock:
            self._request("create_sandbox")
            for sandbox in self.sandboxes.values():
                running = sandbox.returncode is None
                if (
                    sandbox.name == name
                    and sandbox.request.app_name == request.app_name
                    and running
                ):
                    return sandbox.sandbox_id
            sandbox_id = f"sb-{next(self._ids):020d}"
            self.sandboxes[sandbox_id] = FakeSandbox(
                sandbox_id, name, request, tags=dict(request.tags)
            )
            return sandbox_id

    def sandbox_state(self, sandbox_id: str) -> SandboxState:
        with self._lock:
            self._request("sandbox_state")
            sandbox = self._sandbox(sandbox_id)
            return SandboxState(returncode=sandbox.returncode, tags=dict(sandbox.tags))

    def tag_sandbox(self, sandbox_id: str, tags: Mapping[str, str]) -> None:
        with self._lock:
            self._request("tag_sandbox")
            self._sandbox(sandbox_id).tags.update(tags)

    def terminate_sandbox(self, sandbox_id: str) -> None:
        with self._lock:
            self._request("terminate_sandbox")
            sandbox = self._sandbox(sandbox_id)
            if sandbox.returncode is None:
                sandbox.returncode = 137  # what Modal reports for a terminated sandbox

    def read_output(
        self, infra_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[OutputEntry]:
        """Like ``AppFetchLogs``: the range is inclusive, answers are in time order."""
        with self._lock:
            self._request("read_output")
            if infra_id not in self.calls:
                self._sandbox(infra_id)
            stored = sorted(self.output.get(infra_id, []), key=lambda entry: entry.timestamp)
            return [entry for entry in stored if since <= entry.timestamp <= until][:limit]
