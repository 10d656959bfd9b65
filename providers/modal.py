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

Everything that talks to Modal sits behind ``ModalClient``, a small Protocol;
``SdkModalClient`` implements it with the ``modal`` SDK (imported on first
use), and tests inject ``tests/fakes/modal_client.py`` — the only place a
hand-written fake replaces the network (design §8).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.shared import command_list, dns_name, string_map

log = logging.getLogger(__name__)

RUN_TAG = "pushpool-run-id"
ATTEMPT_TAG = "pushpool-attempt"
CANCELLED_TAG = "pushpool-cancelled"
DEFAULT_SANDBOX_TIMEOUT = 3600  # Modal's own default (300 s) is too short for most flows
SANDBOX_TIMEOUT_CODE, SANDBOX_KILLED_CODE = 124, 137  # what Modal reports for those ends
CallStatus = Literal[
    "pending", "running", "success", "failure", "init_failure", "terminated", "timeout"
]


# -- requests and observations: plain values crossing the seam ----------------------------


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


# -- status mapping (pure) --------------------------------------------------------------------------


def call_status(state: CallState) -> InfraStatus:
    match state.status:
        case "pending":
            return InfraStatus(phase=InfraPhase.PENDING)
        case "running":
            return InfraStatus(phase=InfraPhase.RUNNING)
        case "success":
            code = state.result if type(state.result) is int else 0
            return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)
        case "failure":
            return InfraStatus(
                phase=InfraPhase.EXITED, exit_code=1, reason=f"the function raised: {state.message}"
            )
        case "terminated":
            return InfraStatus(phase=InfraPhase.CANCELLED, reason="the function call was cancelled")
        case "timeout":
            return InfraStatus(phase=InfraPhase.CRASHED, reason="the function call timed out")
    return InfraStatus(
        phase=InfraPhase.CRASHED, reason=f"the function failed to start: {state.message}"
    )


def sandbox_status(state: SandboxState) -> InfraStatus:
    code = state.returncode
    if code is None:
        return InfraStatus(phase=InfraPhase.RUNNING)
    if state.tags.get(CANCELLED_TAG) == "true":
        return InfraStatus(phase=InfraPhase.CANCELLED, reason="the sandbox was terminated")
    if code == SANDBOX_TIMEOUT_CODE:
        return InfraStatus(phase=InfraPhase.CRASHED, reason="the sandbox hit its timeout")
    if code == SANDBOX_KILLED_CODE:
        return InfraStatus(
            phase=InfraPhase.CRASHED,
            reason="the sandbox was killed (out of memory, or terminated outside pushpool)",
        )
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)


# -- the provider ------------------------------------------------------------------------------------


def is_sandbox(infra_id: str) -> bool:
    return infra_id.startswith("sb-")


class ModalProvider:
    """``core.ports.Provider`` for Modal function calls and sandboxes."""

    emits_events = False
    supports_polling = True

    def __init__(self, client: ModalClient) -> None:
        self.client = client

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


# -- the SDK adapter ----------------------------------------------------------------------------------


class SdkModalClient:
    """``ModalClient`` on the ``modal`` SDK (1.x).  Nothing is imported or opened until used."""

    def __init__(
        self,
        *,
        token_id: str | None = None,
        token_secret: str | None = None,
        registry_name: str = "pushpool-calls",
        registry_environment: str | None = None,
    ) -> None:
        self._token = (token_id, token_secret)
        self._registry_name = registry_name
        self._registry_environment = registry_environment

    @cached_property
    def modal(self) -> Any:
        return importlib.import_module("modal")

    @cached_property
    def sdk_client(self) -> Any:
        """A client for the caller's token, or None to use Modal's own configuration."""
        token_id, token_secret = self._token
        if token_id and token_secret:
            return self.modal.Client.from_credentials(token_id, token_secret)
        return None

    @cached_property
    def _registry(self) -> Any:
        return self.modal.Dict.from_name(
            self._registry_name,
            environment_name=self._registry_environment,
            create_if_missing=True,
            client=self.sdk_client,
        )

    def recorded_call(self, key: str) -> str | None:
        with sdk_errors(self.modal):
            value = self._registry.get(key)
        return str(value) if value else None

    def record_call(self, key: str, call_id: str) -> str:
        with sdk_errors(self.modal):
            if self._registry.put(key, call_id, skip_if_exists=True):
                return call_id
            return str(self._registry.get(key))

    def _options(self, resources: Resources, environment: str | None) -> dict[str, Any]:
        options: dict[str, Any] = {
            k: v
            for k, v in (
                ("cpu", resources.cpu),
                ("memory", resources.memory),
                ("gpu", resources.gpu),
                ("timeout", resources.timeout),
            )
            if v is not None
        }
        if resources.secrets:
            options["secrets"] = [
                self.modal.Secret.from_name(name, environment_name=environment)
                for name in resources.secrets
            ]
        return options

    def spawn(self, request: FunctionRequest) -> str:
        with sdk_errors(self.modal):
            function = self.modal.Function.from_name(
                request.app_name,
                request.function_name,
                environment_name=request.environment_name,
                client=self.sdk_client,
            )
            options = self._options(request.resources, request.environment_name)
            if options:
                function = function.with_options(**options)
            call = function.spawn(parameters=request.parameters, env=request.env)
            return str(call.object_id)

    def call_state(self, call_id: str) -> CallState:
        modal = self.modal
        with sdk_errors(modal):
            call = modal.FunctionCall.from_id(call_id, client=self.sdk_client)
            graph = call.get_call_graph()  # best effort: may be empty or lag behind
        node = next((n for n in _walk(graph) if n.function_call_id == call_id), None)
        status = node.status.name.lower() if node is not None else "pending"
        if status == "pending":
            return self._poll_output(call, running=bool(node and node.task_id))
        if status in {"terminated", "timeout"}:
            return CallState(status=status)
        return self._poll_output(call, running=True, finished_as=status)

    def _poll_output(self, call: Any, *, running: bool, finished_as: str = "") -> CallState:
        errors = self.modal.exception
        with sdk_errors(self.modal):
            try:
                return CallState(status="success", result=call.get(timeout=0))
            except errors.FunctionTimeoutError:
                return CallState(status="timeout")
            except errors.OutputExpiredError:
                return CallState(status="success")  # finished long ago; result no longer kept
            except errors.TimeoutError:
                return CallState(status="running" if running else "pending")
            except errors.InputCancellation:
                return CallState(status="terminated")
            except tuple(getattr(errors, name) for name in PLATFORM_ERRORS):
                raise  # Modal itself failed, not the function: sdk_errors classifies it
            except Exception as exc:  # the remote function's own exception, re-raised here
                kind = "init_failure" if finished_as == "init_failure" else "failure"
                return CallState(status=kind, message=f"{type(exc).__name__}: {exc}")

    def cancel_call(self, call_id: str) -> None:
        with sdk_errors(self.modal):
            call = self.modal.FunctionCall.from_id(call_id, client=self.sdk_client)
            call.cancel(terminate_containers=True)

    def find_sandbox(self, request: SandboxRequest, name: str) -> str | None:
        modal = self.modal
        with sdk_errors(modal):
            try:
                sandbox = modal.Sandbox.from_name(
                    request.app_name,
                    name,
                    environment_name=request.environment_name,
                    include_terminated=True,
                    client=self.sdk_client,
                )
            except modal.exception.NotFoundError:
                return None
            return str(sandbox.object_id)

    def create_sandbox(self, request: SandboxRequest, name: str) -> str:
        modal = self.modal
        resources = request.resources
        with sdk_errors(modal):
            app = modal.App.lookup(
                request.app_name,
                environment_name=request.environment_name,
                create_if_missing=True,
                client=self.sdk_client,
            )
            options = self._options(resources, request.environment_name)
            options["timeout"] = resources.timeout or DEFAULT_SANDBOX_TIMEOUT
            try:
                sandbox = modal.Sandbox.create(
                    *request.command,
                    app=app,
                    name=name,
                    image=modal.Image.from_registry(request.image),
                    env=dict(request.env),
                    workdir=request.workdir,
                    tags=dict(request.tags),
                    client=self.sdk_client,
                    **options,
                )
            except modal.exception.AlreadyExistsError:
                found = self.find_sandbox(request, name)
                if found is None:
                    raise
                return found
            return str(sandbox.object_id)

    def sandbox_state(self, sandbox_id: str) -> SandboxState:
        with sdk_errors(self.modal):
            sandbox = self.modal.Sandbox.from_id(sandbox_id, client=self.sdk_client)
            code = sandbox.poll()
            tags = sandbox.get_tags() if code is not None else {}
            return SandboxState(returncode=code, tags=dict(tags))

    def tag_sandbox(self, sandbox_id: str, tags: Mapping[str, str]) -> None:
        with sdk_errors(self.modal):
            sandbox = self.modal.Sandbox.from_id(sandbox_id, client=self.sdk_client)
            sandbox.set_tags({**sandbox.get_tags(), **tags})

    def terminate_sandbox(self, sandbox_id: str) -> None:
        with sdk_errors(self.modal):
            self.modal.Sandbox.from_id(sandbox_id, client=self.sdk_client).terminate()


def _walk(nodes: list[Any]) -> Iterator[Any]:
    for node in nodes or []:
        yield node
        yield from _walk(node.children)


PLATFORM_ERRORS = (
    "NotFoundError",
    "AuthError",
    "ClientClosed",
    "ConnectionError",
    "InternalError",
    "InternalFailure",
    "ResourceExhaustedError",
    "ServiceError",
)
RETRYABLE_SDK_ERRORS = (
    "ConnectionError",
    "InternalError",
    "InternalFailure",
    "ResourceExhaustedError",
    "ServiceError",
    "TimeoutError",
)


@contextmanager
def sdk_errors(modal: Any) -> Iterator[None]:
    """Translate the SDK's exceptions into ``ModalError`` (AlreadyExists passes through)."""
    errors = modal.exception
    retryable = tuple(getattr(errors, name) for name in RETRYABLE_SDK_ERRORS)
    try:
        yield
    except (ModalError, errors.AlreadyExistsError):
        raise
    except errors.NotFoundError as exc:
        raise ModalError(str(exc), retryable=False, not_found=True) from exc
    except (*retryable, ConnectionError, OSError) as exc:
        raise ModalError(str(exc) or type(exc).__name__, retryable=True) from exc
    except errors.Error as exc:  # AuthError, InvalidError, PermissionDeniedError, ...
        raise ModalError(f"{type(exc).__name__}: {exc}", retryable=False) from exc


def make_provider(
    *,
    token_id: str | None = None,
    token_secret: str | None = None,
    client: ModalClient | None = None,
    registry_name: str = "pushpool-calls",
    registry_environment: str | None = None,
) -> ModalProvider:
    """Build the provider; the registry calls this.

    ``token_id``/``token_secret`` come from Secrets Manager through the
    caller; without them Modal's own configuration (``MODAL_TOKEN_ID``...) is
    used.  ``client`` replaces the SDK adapter (tests pass the fake).
    """
    return ModalProvider(
        client
        or SdkModalClient(
            token_id=token_id,
            token_secret=token_secret,
            registry_name=registry_name,
            registry_environment=registry_environment,
        )
    )
