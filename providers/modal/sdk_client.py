"""``SdkModalClient``: the ``ModalClient`` seam on the ``modal`` SDK (1.x).

Nothing is imported or opened until used.  This is the part of the Modal
provider no test can run against Modal itself; ``tests/providers/
test_modal_sdk.py`` pins every SDK call and keyword it uses and classifies
the SDK's real exception classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property
from itertools import islice
from typing import Any

from providers.modal.errors import ModalError
from providers.modal.request import FunctionRequest, Resources, SandboxRequest
from providers.modal.seam import CallState, CallStatus, OutputEntry, SandboxState

DEFAULT_SANDBOX_TIMEOUT = 3600  # Modal's own default (300 s) is too short for most flows


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
            return CallState(status="terminated" if status == "terminated" else "timeout")
        return self._poll_output(call, running=True, finished_as=status)

    def _poll_output(self, call: Any, *, running: bool, finished_as: str = "") -> CallState:
        """Read the call's output without waiting.

        ``get(timeout=0)`` answers a call that has not finished with the
        *builtin* ``TimeoutError`` (modal 1.x), its own timeouts with
        ``modal.exception`` subclasses, and a call that raised with that
        exception re-raised here.
        """
        errors = self.modal.exception
        with sdk_errors(self.modal):
            try:
                return CallState(status="success", result=call.get(timeout=0))
            except errors.FunctionTimeoutError:
                return CallState(status="timeout")
            except errors.OutputExpiredError:
                return CallState(status="success")  # finished long ago; result no longer kept
            except errors.InputCancellation:
                return CallState(status="terminated")
            except tuple(getattr(errors, name) for name in PLATFORM_ERRORS):
                raise  # Modal itself failed, not the function: sdk_errors classifies it
            except Exception as exc:  # not finished yet, or the function's own exception
                unfinished = isinstance(exc, TimeoutError | errors.TimeoutError)
                if unfinished and not finished_as:
                    return CallState(status="running" if running else "pending")
                kind: CallStatus = "init_failure" if finished_as == "init_failure" else "failure"
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

    def read_output(
        self, infra_id: str, *, since: datetime, until: datetime, limit: int
    ) -> list[OutputEntry]:
        """The lines Modal stored for the call or sandbox, through its public ``logs.fetch``.

        ``fetch`` is a bounded range query (``AppCountLogs`` then
        ``AppFetchLogs``, filtered by function call id or by the sandbox's
        task id), not a stream: it returns when the range is read.  At most
        ``limit`` entries are taken; the generator is closed after them.
        """
        modal = self.modal
        with sdk_errors(modal):
            if infra_id.startswith("sb-"):
                owner: Any = modal.Sandbox.from_id(infra_id, client=self.sdk_client)
            else:
                owner = modal.FunctionCall.from_id(infra_id, client=self.sdk_client)
            return collect_output(owner.logs, since=since, until=until, limit=limit)


def collect_output(logs: Any, *, since: datetime, until: datetime, limit: int) -> list[OutputEntry]:
    """Up to ``limit`` entries of a Modal logs manager (``FunctionCall.logs``, ``Sandbox.logs``)."""
    entries = logs.fetch(since=since, until=until)
    try:
        return [
            OutputEntry(timestamp=entry.timestamp, message=entry.message, source=entry.source)
            for entry in islice(entries, limit)
        ]
    finally:
        close = getattr(entries, "close", None)
        if close is not None:
            close()  # stop the SDK's fetches we no longer need


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
