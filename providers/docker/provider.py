"""``DockerProvider``: create, start, stream, poll, cancel and remove containers.

The SDK is imported inside the provider, never at module import (see the
package docstring for the one-container-per-claim and ``auto_remove`` rules).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.docker.errors import docker_errors, translated
from providers.docker.request import (
    AUTO_REMOVE_LABEL,
    DEFAULT_GRACE_SECONDS,
    RUN_LABEL,
    DockerRequest,
    build_request,
)
from providers.docker.status import container_status
from providers.shared import OutputRing, TerminalMemo

OUTPUT_BUFFER_LINES = 5000
KEPT_OUTPUTS = 200  # containers whose output is kept for read_logs, newest first


class DockerProvider:
    """Containers on one Docker host; polled through inspect (no events)."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # the container's output, attached from submit on

    def __init__(
        self,
        *,
        client: Any = None,
        base_url: str | None = None,
        timeout: int = 60,
        grace_seconds: int = DEFAULT_GRACE_SECONDS,
        output: TextIO | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
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
        self._clock = clock
        self._outputs: OrderedDict[str, OutputRing] = OrderedDict()

    @property
    def client(self) -> Any:
        """The Docker client, made on first use (it asks the daemon for its API version)."""
        if self._client is None:
            import docker  # noqa: PLC0415 - lazy on purpose (module docstring)

            with translated("connect to the Docker daemon"):
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
            with translated(f"start container {request.name}"):
                container.start()
        self._stream(container, request.prefix if request.stream_output else None)
        return str(container.id)

    def _create(self, request: DockerRequest) -> Any:
        """Create the container, pulling a missing image once; adopt it on 409."""
        errors = docker_errors()

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
        errors = docker_errors()

        with translated(f"create container {request.name}", let_through=(errors.ImageNotFound,)):
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
        with translated(f"pull image {image}"):
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
        with translated(f"log in to registry {url or 'docker.io'}"):
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
                with translated(f"connect container {container.name} to network {network}"):
                    self.client.api.connect_container_to_network(container.id, network)

    def _stream(self, container: Any, prefix: str | None) -> None:
        """Attach to the container's output: kept for ``read_logs``, and echoed to
        the worker's stdout with ``prefix`` when the job streams its output."""
        with self._lock:
            if container.id in self._streaming:
                return
            self._streaming.add(container.id)
            self._outputs[container.id] = OutputRing(OUTPUT_BUFFER_LINES)
            while len(self._outputs) > KEPT_OUTPUTS:
                self._outputs.popitem(last=False)
        threading.Thread(
            target=self._pump,
            args=(container, prefix),
            name=f"docker-logs-{container.name}",
            daemon=True,
        ).start()

    def _pump(self, container: Any, prefix: str | None) -> None:
        """Keep (and echo) the container's output until it stops."""
        ring = self._outputs.get(container.id)
        sink = (self._output or sys.stdout) if prefix is not None else None
        pending = ""

        def emit(line: str) -> None:
            if ring is not None:
                ring.add(self._clock(), line)
            if sink is not None:
                sink.write(f"{prefix}{line}\n")
                sink.flush()

        with contextlib.suppress(Exception):  # logs are a courtesy: never crash the worker
            for chunk in container.logs(stream=True, follow=True):
                pending += chunk.decode("utf-8", errors="replace")
                *lines, pending = pending.split("\n")
                for line in lines:
                    emit(line)
            if pending:
                emit(pending)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        """Output lines numbered above ``after``; a container this provider did not
        attach to (the worker restarted) has none."""
        ring = self._outputs.get(infra_id)
        return ring.read(after) if ring is not None else LogChunk(cursor=after)

    # -- status, wait, cancel -----------------------------------------------------

    def status(self, infra_id: str) -> InfraStatus:
        errors = docker_errors()

        known = self._final.get(infra_id)
        if known is not None:
            return known
        try:
            with translated(f"inspect container {infra_id[:12]}", let_through=(errors.NotFound,)):
                attrs = self.client.api.inspect_container(infra_id)
        except errors.NotFound:
            if infra_id in self._cancelled:
                return InfraStatus(phase=InfraPhase.CANCELLED, reason="cancelled")
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                reason=f"container {infra_id[:12]} vanished (removed before its exit was seen)",
            )
        status = container_status(attrs.get("State") or {}, cancelled=infra_id in self._cancelled)
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        if labels.get(AUTO_REMOVE_LABEL) == "true" and not self._remove(infra_id):
            return status  # removal failed: keep asking, so the next call retries it
        return self._final.remember(infra_id, status)

    def wait(self, infra_id: str, *, timeout: float | None = None) -> InfraStatus:
        """Block until the container stops (Docker's wait), then report its status."""
        errors = docker_errors()

        with (
            contextlib.suppress(errors.NotFound),
            translated(f"wait for container {infra_id[:12]}", let_through=(errors.NotFound,)),
        ):
            self.client.api.wait(infra_id, timeout=timeout)
        return self.status(infra_id)

    def cancel(self, infra_id: str) -> None:
        """Stop (SIGTERM, then SIGKILL after the grace period); kill if stop fails."""
        errors = docker_errors()

        self._cancelled.add(infra_id)
        try:
            with translated(f"stop container {infra_id[:12]}", let_through=(errors.NotFound,)):
                self.client.api.stop(infra_id, timeout=self._grace)
        except errors.NotFound:
            return  # already gone: nothing left to stop
        except InfrastructureError as exc:
            if not exc.retryable:
                raise
            with (
                contextlib.suppress(errors.NotFound),
                translated(f"kill container {infra_id[:12]}", let_through=(errors.NotFound,)),
            ):
                self.client.api.kill(infra_id)

    def _remove(self, infra_id: str) -> bool:
        """Remove a finished container; False if Docker could not (the next status retries)."""
        errors = docker_errors()

        try:
            with translated(f"remove container {infra_id[:12]}", let_through=(errors.NotFound,)):
                self.client.api.remove_container(infra_id)
        except errors.NotFound:
            return True  # someone (Docker's own AutoRemove) was first
        except InfrastructureError:
            return False
        return True
