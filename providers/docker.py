"""Docker pools: a flow run is a container on a Docker host, driven by the Docker SDK.

Exactly one container per claim: the container is *named* from the run id
and attempt, so a repeated submit meets Docker's own uniqueness check (409
Conflict on create) and adopts the container it already made instead of
starting a second one.

``auto_remove`` is carried out by this provider, not by Docker's
``HostConfig.AutoRemove``: a container Docker removes on exit takes its exit
code and ``OOMKilled`` flag with it, and the run's final state depends on
them.  The provider removes the container once it has read them.  (A
container labelled ``pushpool.io/auto-remove`` is removed by whichever
worker sees it finish, so a worker restart does not leak it.)

The SDK is imported inside the provider, never at module import, so a
Lambda that imports ``providers.registry`` does not load it.
"""

from __future__ import annotations

import contextlib
import importlib
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job
from providers.shared import TerminalMemo, command_list, flag, retryable_http_status, string_map

RUN_LABEL = "pushpool.io/flow-run-id"
ATTEMPT_LABEL = "pushpool.io/attempt"
AUTO_REMOVE_LABEL = "pushpool.io/auto-remove"
PULL_POLICIES = ("IfNotPresent", "Always", "Never")
DEFAULT_GRACE_SECONDS = 10
_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class DockerRequest:
    """The container to create, as arguments of ``DockerClient.containers.create``."""

    name: str
    image: str
    pull_policy: str
    create: dict[str, Any]  # everything else containers.create() takes
    networks: tuple[str, ...]  # the first at create time, the others connected before start
    registry: dict[str, Any] | None  # username, password, registry_url, reauth
    stream_output: bool
    auto_remove: bool
    prefix: str

    def as_json(self) -> dict[str, Any]:
        """The request with the registry password masked (for golden files and dry runs)."""
        masked = None if self.registry is None else {**self.registry, "password": "***"}
        return {**asdict(self), "networks": list(self.networks), "registry": masked}


def container_name(job: Job) -> str:
    """Deterministic from (run id, attempt), readable with the job's name in front."""
    stem = _NAME_CHARS.sub("-", str(job.configuration.get("name") or job.run_name)).strip("-._")
    run = _NAME_CHARS.sub("-", job.run_id)
    return f"{stem[:40] or 'pushpool'}-{run}-{job.attempt}"


def build_request(job: Job) -> DockerRequest:
    """The container for ``job``'s rendered configuration (pure)."""
    config = job.configuration
    image = config.get("image")
    if not image:
        raise InfrastructureError(
            "a docker pool job needs an image: set `image` in the deployment or the pool's "
            "job variables",
            retryable=False,
        )
    pull_policy = config.get("image_pull_policy") or "IfNotPresent"
    if pull_policy not in PULL_POLICIES:
        raise InfrastructureError(
            f"image_pull_policy {pull_policy!r} is not one of {', '.join(PULL_POLICIES)}",
            retryable=False,
        )
    auto_remove = flag(config.get("auto_remove"))
    labels = string_map(config.get("labels"), what="labels")
    labels |= {RUN_LABEL: job.run_id, ATTEMPT_LABEL: str(job.attempt)}
    if auto_remove:
        labels[AUTO_REMOVE_LABEL] = "true"
    networks = tuple(str(n) for n in config.get("networks") or ())
    ours: dict[str, Any] = {
        "command": command_list(config.get("command")) or None,
        "environment": string_map(config.get("env"), what="env"),
        "labels": labels,
        "volumes": [str(v) for v in config.get("volumes") or ()],
        "detach": True,
    }
    optional = {
        "mem_limit": config.get("mem_limit"),
        "memswap_limit": config.get("memswap_limit"),
        "privileged": config.get("privileged") or None,
        "network": networks[0] if networks else None,
        "network_mode": None if networks else config.get("network_mode"),
    }
    ours |= {k: v for k, v in optional.items() if v not in (None, "")}
    create = {**dict(config.get("container_create_kwargs") or {}), **ours}
    return DockerRequest(
        name=container_name(job),
        image=str(image),
        pull_policy=pull_policy,
        create=create,
        networks=networks,
        registry=_registry(config.get("registry_credentials")),
        stream_output=flag(config.get("stream_output", True)),
        auto_remove=auto_remove,
        prefix=f"[{config.get('name') or job.run_name}] ",
    )


def _registry(credentials: object) -> dict[str, Any] | None:
    if not credentials:
        return None
    if not isinstance(credentials, dict) or not credentials.get("username"):
        raise InfrastructureError(
            "registry_credentials needs at least `username`, `password` and `registry_url`",
            retryable=False,
        )
    return {
        "username": credentials["username"],
        "password": credentials.get("password"),
        "registry_url": credentials.get("registry_url"),
        "reauth": bool(credentials.get("reauth", False)),
    }


class DockerProvider:
    """Containers on one Docker host; polled through inspect (no events)."""

    emits_events = False
    supports_polling = True

    def __init__(
        self,
        *,
        client: Any = None,
        base_url: str | None = None,
        timeout: int = 60,
        grace_seconds: int = DEFAULT_GRACE_SECONDS,
        output: TextIO | None = None,
    ) -> None:
        importlib.import_module("docker")  # a missing extra fails at load, with the registry's hint
        self._client = client
        self._base_url = base_url
        self._timeout = timeout
        self._grace = grace_seconds
        self._output = output
        self._lock = threading.Lock()
        self._final = TerminalMemo()
        self._cancelled: set[str] = set()
        self._streaming: set[str] = set()
        self._logged_in: set[str] = set()

    @property
    def client(self) -> Any:
        """The Docker client, made on first use (it asks the daemon for its API version)."""
        if self._client is None:
            import docker  # noqa: PLC0415 - lazy on purpose (module docstring)

            with _translated("connect to the Docker daemon"):
                if self._base_url is None:
                    self._client = docker.from_env(timeout=self._timeout)
                else:
                    self._client = docker.DockerClient(
                        base_url=self._base_url, timeout=self._timeout
                    )
        return self._client

    def build_request(self, job: Job) -> DockerRequest:
        return build_request(job)

    # -- submit -----------------------------------------------------------------

    def submit(self, request: DockerRequest, *, idempotency_key: str) -> str:
        """Create and start the container; a second call adopts the existing one."""
        if request.registry is not None:
            self._login(request.registry)
        if request.pull_policy == "Always":
            self._pull(request.image)
        container = self._create(request)
        labels = container.labels or {}
        if labels.get(RUN_LABEL) != request.create["labels"][RUN_LABEL]:
            raise InfrastructureError(
                f"a container named {request.name!r} already exists and belongs to another run "
                f"({labels.get(RUN_LABEL)!r}); remove it and retry",
                retryable=False,
            )
        state = container.attrs.get("State") or {}
        if state.get("Status") == "created" and not state.get("Error"):
            self._connect(container, request.networks[1:])
            with _translated(f"start container {request.name}"):
                container.start()
        if request.stream_output:
            self._stream(container, request.prefix)
        return str(container.id)

    def _create(self, request: DockerRequest) -> Any:
        """Create the container, pulling a missing image once; adopt it on 409."""
        errors = _docker_errors()

        try:
            return self._create_or_adopt(request)
        except errors.ImageNotFound as exc:
            if request.pull_policy == "Never":
                raise InfrastructureError(
                    f"image {request.image} is not on the Docker host and image_pull_policy "
                    "is Never",
                    retryable=False,
                ) from exc
        self._pull(request.image)
        return self._create_or_adopt(request)

    def _create_or_adopt(self, request: DockerRequest) -> Any:
        errors = _docker_errors()

        with _translated(f"create container {request.name}", let_through=(errors.ImageNotFound,)):
            try:
                return self.client.containers.create(
                    request.image, name=request.name, **request.create
                )
            except errors.APIError as exc:
                if exc.status_code != 409:
                    raise
            return self.client.containers.get(request.name)  # made by an earlier submit

    def _pull(self, image: str) -> None:
        from docker.utils import parse_repository_tag  # noqa: PLC0415

        repository, tag = parse_repository_tag(image)
        with _translated(f"pull image {image}"):
            for line in self.client.api.pull(
                repository, tag=tag or "latest", stream=True, decode=True
            ):
                if "error" in line:
                    raise InfrastructureError(
                        f"pull image {image} failed: {line['error']}", retryable=False
                    )

    def _login(self, registry: dict[str, Any]) -> None:
        url = registry.get("registry_url") or ""
        if url in self._logged_in and not registry["reauth"]:
            return
        with _translated(f"log in to registry {url or 'docker.io'}"):
            self.client.login(
                username=registry["username"],
                password=registry["password"],
                registry=url or None,
                reauth=registry["reauth"],
            )
        self._logged_in.add(url)

    def _connect(self, container: Any, networks: tuple[str, ...]) -> None:
        attached = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        for network in networks:
            if network not in attached:
                with _translated(f"connect container {container.name} to network {network}"):
                    self.client.api.connect_container_to_network(container.id, network)

    def _stream(self, container: Any, prefix: str) -> None:
        with self._lock:
            if container.id in self._streaming:
                return
            self._streaming.add(container.id)
        threading.Thread(
            target=self._pump,
            args=(container, prefix),
            name=f"docker-logs-{container.name}",
            daemon=True,
        ).start()

    def _pump(self, container: Any, prefix: str) -> None:
        """Copy the container's output to the worker's stdout until it stops."""
        sink = self._output or sys.stdout
        pending = ""
        with contextlib.suppress(Exception):  # logs are a courtesy: never crash the worker
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk.decode("utf-8", errors="replace")
                *lines, pending = pending.split("\n")
                for line in lines:
                    sink.write(f"{prefix}{line}\n")
                sink.flush()
            if pending:
                sink.write(f"{prefix}{pending}\n")
                sink.flush()

    # -- status, wait, cancel -----------------------------------------------------

    def status(self, infra_id: str) -> InfraStatus:
        errors = _docker_errors()

        known = self._final.get(infra_id)
        if known is not None:
            return known
        try:
            with _translated(f"inspect container {infra_id[:12]}", let_through=(errors.NotFound,)):
                attrs = self.client.api.inspect_container(infra_id)
        except errors.NotFound:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="cancelled")
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"container {infra_id[:12]} vanished (removed before its exit was seen)",
            )
        status = _map_state(attrs.get("State") or {}, cancelled=infra_id in self._cancelled)
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(AUTO_REMOVE_LABEL) == "true" and not self._remove(infra_id):
            return status  # removal failed: keep asking, so the next call retries it
        return self._final.remember(infra_id, status)

    def wait(self, infra_id: str, *, timeout: float | None = None) -> InfraStatus:
        """Block until the container stops (Docker's wait), then report its status."""
        errors = _docker_errors()

        with (
            contextlib.suppress(errors.NotFound),
            _translated(f"wait for container {infra_id[:12]}", let_through=(errors.NotFound,)),
        ):
            self.client.api.wait(infra_id, timeout=timeout)
        return self.status(infra_id)

    def cancel(self, infra_id: str) -> None:
        """Stop (SIGTERM, then SIGKILL after the grace period); kill if stop fails."""
        errors = _docker_errors()

        self._cancelled.add(infra_id)
        try:
            with _translated(f"stop container {infra_id[:12]}", let_through=(errors.NotFound,)):
                self.client.api.stop(infra_id, timeout=self._grace)
        except errors.NotFound:
            return  # already gone: nothing left to stop
        except InfrastructureError as exc:
            if not exc.retryable:
                raise
            with (
                contextlib.suppress(errors.NotFound),
                _translated(f"kill container {infra_id[:12]}", let_through=(errors.NotFound,)),
            ):
                self.client.api.kill(infra_id)

    def _remove(self, infra_id: str) -> bool:
        """Remove a finished container; False if Docker could not (the next status retries)."""
        errors = _docker_errors()

        try:
            with _translated(f"remove container {infra_id[:12]}", let_through=(errors.NotFound,)):
                self.client.api.remove_container(infra_id)
        except errors.NotFound:
            return True  # someone (Docker's own AutoRemove) was first
        except InfrastructureError:
            return False
        return True


def _map_state(state: dict[str, Any], *, cancelled: bool) -> InfraStatus:
    status = state.get("Status")
    error = state.get("Error") or ""
    code = state.get("ExitCode")
    if status in {"running", "restarting", "paused"}:
        return InfraStatus(phase=InfraPhase.RUNNING)
    if status == "created" and not error:
        if cancelled:
            return InfraStatus(phase=InfraPhase.CANCELLED, reason="cancelled before it started")
        return InfraStatus(phase=InfraPhase.PENDING)
    if cancelled:
        return InfraStatus(phase=InfraPhase.CANCELLED, exit_code=code, reason="cancelled")
    if state.get("OOMKilled"):
        return InfraStatus(phase=InfraPhase.CRASHED, exit_code=code, reason="OOM-killed")
    if error:
        return InfraStatus(
            phase=InfraPhase.CRASHED, exit_code=code, reason=f"failed to start: {error}"
        )
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=code)


def _docker_errors() -> Any:
    """The SDK's errors module, imported on first use like the rest of the SDK."""
    import docker.errors  # noqa: PLC0415

    return docker.errors


@contextlib.contextmanager
def _translated(
    action: str, *, let_through: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Turn Docker SDK and transport errors into ``InfrastructureError``.

    Throttling, server errors and connection problems can pass with a retry;
    other API errors (bad spec, missing image, permission) cannot.  Errors in
    ``let_through`` reach the caller untranslated, for it to handle.
    """
    import requests  # noqa: PLC0415

    errors = _docker_errors()

    try:
        yield
    except let_through:
        raise
    except errors.APIError as exc:
        raise InfrastructureError(
            f"docker: {action} failed ({exc.status_code}): {exc.explanation or exc}",
            retryable=retryable_http_status(exc.status_code),
        ) from exc
    except (errors.DockerException, requests.exceptions.RequestException) as exc:
        raise InfrastructureError(f"docker: {action} failed: {exc}", retryable=True) from exc


def make_provider(**options: Any) -> DockerProvider:
    """The registry's entry point (options: see ``DockerProvider``).

    ``base_url`` None means ``DOCKER_HOST`` or the local socket, as the docker CLI does.
    """
    return DockerProvider(**options)
