"""Modal as infrastructure for ``modal:push`` pools.

Two shapes of work.  With ``app_name`` and ``function_name``, one flow-run
attempt is one *function call* of a deployed Modal function, spawned with
``parameters=`` the run's parameters and ``env=`` the injected environment
(the deployed entry function applies the env and returns the flow's exit
code).  With ``image``, it is one *Sandbox* running ``command`` in that
image.  The call or sandbox id is the infrastructure id.

Modal's ``spawn`` takes no idempotency key.  Calls are therefore recorded
in a Modal Dict under the ``(run id, attempt)`` key with put-if-absent: a
repeated submit returns the recorded call, and of two racing submits the
loser cancels its own call.  Sandboxes get a deterministic name, unique in
their app, and are looked up by it (terminated ones included) before one is
created.  docs/providers.md states what can still duplicate.

Everything that talks to Modal sits behind ``ModalClient``, a small Protocol
(``seam.py``); ``sdk_client.SdkModalClient`` implements it with the ``modal``
SDK (imported by ``make_provider``, never at import time), and tests inject
``tests/fakes/modal_client.py`` — the only place a hand-written fake
replaces the network (design §8).  ``status.py`` maps what Modal says to
``InfraStatus``.  Only this ``__init__`` imports ``providers.shared``: the
independence contract in pyproject.toml allows ``providers.* ->
providers.shared`` for the package, not its submodules.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.modal.logs import read_output
from providers.modal.sdk_client import SdkModalClient, sdk_errors
from providers.modal.seam import (
    CallState,
    CallStatus,
    FunctionRequest,
    ModalClient,
    ModalError,
    ModalRequest,
    OutputEntry,
    Resources,
    SandboxRequest,
    SandboxState,
)
from providers.modal.status import CANCELLED_TAG, call_status, sandbox_status
from providers.shared import command_list, dns_name, string_map

__all__ = [
    "CANCELLED_TAG",
    "CallState",
    "CallStatus",
    "FunctionRequest",
    "ModalClient",
    "ModalError",
    "ModalProvider",
    "ModalRequest",
    "OutputEntry",
    "Resources",
    "SandboxRequest",
    "SandboxState",
    "SdkModalClient",
    "build_modal_request",
    "call_status",
    "make_provider",
    "sandbox_status",
    "sdk_errors",
]

log = logging.getLogger(__name__)

RUN_TAG = "pushpool-run-id"
ATTEMPT_TAG = "pushpool-attempt"


# -- build_request (pure) ----------------------------------------------------------------------


def _resources(config: Mapping[str, Any]) -> Resources:
    secrets = config.get("secrets") or []
    if isinstance(secrets, str):
        secrets = [secrets]
    return Resources(
        cpu=float(config["cpu"]) if config.get("cpu") is not None else None,
        memory=int(config["memory"]) if config.get("memory") is not None else None,
        gpu=str(config["gpu"]) if config.get("gpu") else None,
        timeout=int(config["timeout"]) if config.get("timeout") is not None else None,
        secrets=tuple(str(name) for name in secrets),
    )


def _parameters(config: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The run's parameters: given explicitly, else the injected ``PUSHPOOL_PARAMETERS``."""
    if config.get("parameters") is not None:
        return dict(config["parameters"])
    try:
        return dict(json.loads(env.get("PUSHPOOL_PARAMETERS") or "{}"))
    except (ValueError, TypeError) as exc:
        raise InfrastructureError(
            "PUSHPOOL_PARAMETERS is not a JSON object", retryable=False
        ) from exc


def build_modal_request(job: Job) -> ModalRequest:
    config = job.configuration
    env = string_map(config.get("env"), what="env")
    environment = config.get("environment_name") or None
    if config.get("app_name") and config.get("function_name"):
        return FunctionRequest(
            app_name=str(config["app_name"]),
            function_name=str(config["function_name"]),
            environment_name=environment,
            parameters=_parameters(config, env),
            env=env,
            resources=_resources(config),
        )
    if config.get("image"):
        command = command_list(config.get("command"))
        if not command:
            raise InfrastructureError("a Modal sandbox needs a 'command' to run", retryable=False)
        return SandboxRequest(
            app_name=str(config.get("app_name") or "pushpool-sandboxes"),
            environment_name=environment,
            image=str(config["image"]),
            command=tuple(command),
            env=env,
            resources=_resources(config),
            workdir=config.get("working_dir") or None,
            tags={RUN_TAG: job.run_id, ATTEMPT_TAG: str(job.attempt)},
        )
    raise InfrastructureError(
        "modal job configuration needs 'app_name' and 'function_name', or an 'image'",
        retryable=False,
    )


# -- the provider ------------------------------------------------------------------------------------


def is_sandbox(infra_id: str) -> bool:
    return infra_id.startswith("sb-")


class ModalProvider:
    """``core.ports.Provider`` for Modal function calls and sandboxes."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # what Modal stored of the call's or sandbox's output (logs.py)

    def __init__(
        self, client: ModalClient, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.client = client
        self._clock = clock

    def build_request(self, job: Job) -> ModalRequest:
        return build_modal_request(job)

    def submit(self, request: ModalRequest, *, idempotency_key: str) -> str:
        with translated("submit to Modal", not_found_is_terminal=True):
            if isinstance(request, SandboxRequest):
                name = dns_name(idempotency_key)
                found = self.client.find_sandbox(request, name)
                return found or self.client.create_sandbox(request, name)
            return self._spawn_once(request, idempotency_key)

    def _spawn_once(self, request: FunctionRequest, key: str) -> str:
        recorded = self.client.recorded_call(key)
        if recorded is not None:
            return recorded
        call_id = self.client.spawn(request)
        try:
            winner = self.client.record_call(key, call_id)
        except ModalError:
            self._cancel_quietly(call_id)  # unrecorded, a retry would spawn it again
            raise
        if winner != call_id:
            self._cancel_quietly(call_id)  # a concurrent submit recorded its call first
        return winner

    def _cancel_quietly(self, call_id: str) -> None:
        try:
            self.client.cancel_call(call_id)
        except ModalError as error:
            log.warning("could not cancel duplicate Modal call %s: %s", call_id, error)

    def status(self, infra_id: str) -> InfraStatus:
        try:
            with translated("read the Modal call or sandbox"):
                if is_sandbox(infra_id):
                    return sandbox_status(self.client.sandbox_state(infra_id))
                return call_status(self.client.call_state(infra_id))
        except _Gone:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"Modal no longer knows {infra_id}")

    def cancel(self, infra_id: str) -> None:
        try:
            with translated("cancel the Modal call or sandbox"):
                if is_sandbox(infra_id):
                    if self.client.sandbox_state(infra_id).returncode is None:
                        self.client.tag_sandbox(infra_id, {CANCELLED_TAG: "true"})
                        self.client.terminate_sandbox(infra_id)
                else:
                    self.client.cancel_call(infra_id)
        except _Gone:
            return  # nothing left to stop

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        try:
            with translated("read the Modal logs"):
                return read_output(self.client, infra_id, after=after, now=self._clock())
        except _Gone:
            return LogChunk(cursor=after)  # nothing more will ever be read


class _Gone(Exception):
    """The call or sandbox is unknown to Modal (status and cancel handle it)."""


@contextmanager
def translated(action: str, *, not_found_is_terminal: bool = False) -> Iterator[None]:
    try:
        yield
    except ModalError as exc:
        if exc.not_found and not not_found_is_terminal:
            raise _Gone(str(exc)) from exc
        raise InfrastructureError(
            f"Modal: could not {action}: {exc}", retryable=exc.retryable
        ) from exc


def make_provider(
    *,
    secret: str | None = None,
    token_id: str | None = None,
    token_secret: str | None = None,
    client: ModalClient | None = None,
    registry_name: str = "pushpool-calls",
    registry_environment: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ModalProvider:
    """Build the provider; the registry calls this.

    ``token_id``/``token_secret`` come from Secrets Manager through the
    caller; without them Modal's own configuration (``MODAL_TOKEN_ID``...) is
    used.  ``secret`` is the provider family's Secrets Manager value, JSON
    with ``token_id`` and ``token_secret``.  ``client`` replaces the SDK
    adapter (tests pass the fake); otherwise the SDK is imported here, so a
    missing ``pushpool[modal]`` extra shows when the registry loads the
    provider — but no connection is opened until the first call.
    """
    if client is None:
        if secret:
            try:
                values = json.loads(secret)
                token_id = token_id or values["token_id"]
                token_secret = token_secret or values["token_secret"]
            except (ValueError, TypeError, KeyError) as exc:
                raise InfrastructureError(
                    "the Modal secret must be JSON with token_id and token_secret",
                    retryable=False,
                ) from exc
        adapter = SdkModalClient(
            token_id=token_id,
            token_secret=token_secret,
            registry_name=registry_name,
            registry_environment=registry_environment,
        )
        adapter.modal  # noqa: B018 - import the SDK now, connect later
        client = adapter
    return ModalProvider(client, clock=clock)
