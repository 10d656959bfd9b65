"""A fake Docker Engine API on a Unix socket, for the real Docker SDK to talk to.

It speaks the parts of Engine API v1.43 the docker provider uses, with the
daemon's JSON shapes, status codes and error bodies (``{"message": ...}``),
and the multiplexed framing of ``/logs`` (an 8-byte header: stream type,
three zero bytes, big-endian payload length).  Containers do not run
anything: the test decides what happens to them (``run``, ``exit``,
``fail_start``, ``vanish``), the way moto lets a test drive an ECS task.

Usage::

    with FakeDockerEngine() as engine:
        client = docker.DockerClient(base_url=engine.base_url)
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import re
import shutil
import socketserver
import struct
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_fake import QuietHandler, ServedFake

API_VERSION = "1.43"
ZERO_TIME = "0001-01-01T00:00:00Z"
STDOUT, STDERR = 1, 2


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeContainer:
    id: str
    name: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    networks: dict[str, dict[str, Any]]
    status: str = "created"
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    pid: int = 0
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    created: str = field(default_factory=_now)
    logs: list[tuple[int, bytes]] = field(default_factory=list)
    ignores_sigterm: bool = False

    def inspect(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Created": self.created,
            "Path": (self.config.get("Cmd") or [""])[0],
            "Args": (self.config.get("Cmd") or [])[1:],
            "State": {
                "Status": self.status,
                "Running": self.status == "running",
                "Paused": False,
                "Restarting": False,
                "OOMKilled": self.oom_killed,
                "Dead": self.status == "dead",
                "Pid": self.pid,
                "ExitCode": self.exit_code,
                "Error": self.error,
                "StartedAt": self.started_at,
                "FinishedAt": self.finished_at,
            },
            "Image": "sha256:" + hashlib.sha256(self.config["Image"].encode()).hexdigest(),
            "Name": "/" + self.name,
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "HostConfig": self.host_config,
            "Mounts": [],
            "Config": {"Tty": False, "Labels": {}, "Env": [], **self.config},
            "NetworkSettings": {"Networks": self.networks},
        }


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    engine: FakeDockerEngine


class FakeDockerEngine(ServedFake):
    """The daemon's state plus the HTTP server that exposes it."""

    def __init__(self) -> None:
        self.images: set[str] = {"busybox:latest"}
        self.registry: set[str] = {"busybox:latest", "python:3.12-slim", "flows/etl:1"}
        self.credentials: dict[str, tuple[str, str]] = {}  # registry -> (user, password)
        self.networks: set[str] = {"bridge", "host", "none"}
        self.containers: dict[str, FakeContainer] = {}
        self.created = 0
        self.requests: list[tuple[str, str]] = []
        self.failure: tuple[int, str] | None = None
        self.auto_start_fails: str | None = None
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._dir = tempfile.mkdtemp(prefix="fakedockerd-")  # short: AF_UNIX paths are limited
        self.socket_path = os.path.join(self._dir, "docker.sock")
        server = _Server(self.socket_path, _Handler)
        server.engine = self
        self._serve_in_background(server, poll_interval=0.05)

    @property
    def base_url(self) -> str:
        return f"unix://{self.socket_path}"

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        with self._changed:
            self._changed.notify_all()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- what the test drives ------------------------------------------------------

    def find(self, ref: str) -> FakeContainer | None:
        """A container by id, id prefix or name, as the daemon resolves references."""
        ref = ref.lstrip("/")
        for container in self.containers.values():
            if ref in (container.name, container.id):
                return container
        matches = [c for c in self.containers.values() if c.id.startswith(ref)]
        return matches[0] if len(matches) == 1 and len(ref) >= 12 else None

    def _change(self, ref: str, **values: Any) -> FakeContainer:
        with self._changed:
            container = self.find(ref)
            assert container is not None, f"no container {ref}"
            for name, value in values.items():
                setattr(container, name, value)
            self._changed.notify_all()
            return container

    def log(self, ref: str, text: str, *, stream: int = STDOUT) -> None:
        with self._changed:
            container = self.find(ref)
            assert container is not None
            container.logs.append((stream, text.encode()))
            self._changed.notify_all()

    def exit(self, ref: str, code: int, *, oom_killed: bool = False) -> None:
        """The container's main process ends with ``code``."""
        self._change(
            ref, status="exited", exit_code=code, oom_killed=oom_killed, pid=0, finished_at=_now()
        )

    def fail_start(self, ref: str, message: str) -> None:
        """What the daemon records when the OCI runtime cannot start the process."""
        self._change(ref, status="created", exit_code=127, error=message, pid=0)

    def vanish(self, ref: str) -> None:
        with self._changed:
            container = self.find(ref)
            if container is not None:
                del self.containers[container.id]
            self._changed.notify_all()

    def fail_with(self, status: int, message: str) -> None:
        """Answer every following API request with ``status`` until ``heal``."""
        self.failure = (status, message)

    def heal(self) -> None:
        self.failure = None

    # -- the daemon's behaviour ----------------------------------------------------

    def create(self, name: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        image = _qualified(body.get("Image", ""))
        if image not in self.images:
            return 404, {"message": f"No such image: {image}"}
        if name and not re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+", name):
            return 400, {
                "message": f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            }
        existing = self.find(name) if name else None
        if existing is not None:
            return 409, {
                "message": f'Conflict. The container name "/{name}" is already in use by '
                f'container "{existing.id}". You have to remove (or rename) that container '
                "to be able to reuse that name."
            }
        host_config = body.get("HostConfig") or {}
        network = host_config.get("NetworkMode") or "bridge"
        if network not in self.networks and network != "default":
            return 404, {"message": f"network {network} not found"}
        container_id = hashlib.sha256(f"container-{next(self._ids)}".encode()).hexdigest()
        config = {k: v for k, v in body.items() if k not in {"HostConfig", "NetworkingConfig"}}
        self.containers[container_id] = FakeContainer(
            id=container_id,
            name=name or f"fake_{container_id[:6]}",
            config=config,
            host_config=host_config,
            networks={network: {"NetworkID": _net_id(network)}},
        )
        self.created += 1
        return 201, {"Id": container_id, "Warnings": []}

    def start(self, container: FakeContainer) -> tuple[int, Any]:
        if container.status == "running":
            return 304, None
        if self.auto_start_fails is not None:
            self.fail_start(container.id, self.auto_start_fails)
            return 400, {"message": self.auto_start_fails}
        self._change(container.id, status="running", pid=4242, started_at=_now(), error="")
        return 204, None

    def stop(self, container: FakeContainer, *, kill: bool) -> tuple[int, Any]:
        if container.status != "running":
            if kill:
                return 409, {"message": f"Container {container.id} is not running"}
            return 304, None
        killed = kill or container.ignores_sigterm  # past the grace period: SIGKILL
        self.exit(container.id, 137 if killed else 143)
        return 204, None

    def remove(self, container: FakeContainer, *, force: bool) -> tuple[int, Any]:
        if container.status == "running" and not force:
            return 409, {
                "message": f'cannot remove container "/{container.name}": container is running: '
                "stop the container before removing or force remove"
            }
        self.vanish(container.id)
        return 204, None

    def wait_for_exit(self, container: FakeContainer, condition: str) -> dict[str, Any]:
        """Block like the daemon: until removed, or until the container is not running."""

        def reached() -> bool:
            gone = container.id not in self.containers
            if condition == "removed":
                return gone
            if condition == "next-exit":
                return gone or container.status in {"exited", "dead"}
            return gone or container.status != "running"

        with self._changed:
            while not reached():
                self._changed.wait(0.5)
        return {"StatusCode": container.exit_code, "Error": None}

    def follow_logs(self, container: FakeContainer, *, follow: bool) -> Any:
        """Yield (stream, bytes) frames, following until the container stops."""
        sent = 0
        while True:
            with self._changed:
                frames = container.logs[sent:]
                sent += len(frames)
                running = container.status == "running" and container.id in self.containers
                if not frames and follow and running:
                    self._changed.wait(0.2)
            yield from frames
            if not frames and (not follow or not running):
                return

    def pull(self, image: str, auth: dict[str, Any] | None) -> tuple[int, Any]:
        registry = (
            image.split("/", maxsplit=1)[0]
            if "." in image.split("/", maxsplit=1)[0]
            else "docker.io"
        )
        wanted = self.credentials.get(registry)
        if wanted and (auth is None or (auth.get("username"), auth.get("password")) != wanted):
            return 404, {
                "message": f"pull access denied for {image.rsplit(':', 1)[0]}, repository does "
                "not exist or may require 'docker login': denied: requested access to the "
                "resource is denied"
            }
        if image not in self.registry:
            return 404, {"message": f"manifest for {image} not found: manifest unknown"}
        self.images.add(image)
        return 200, None

    def login(self, body: dict[str, Any]) -> tuple[int, Any]:
        registry = body.get("serveraddress") or "docker.io"
        wanted = self.credentials.get(registry.removeprefix("https://").rstrip("/"))
        if wanted is None or (body.get("username"), body.get("password")) != wanted:
            return 401, {
                "message": f'Get "https://{registry}/v2/": unauthorized: incorrect username or password'
            }
        return 200, {"Status": "Login Succeeded", "IdentityToken": ""}


def _qualified(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last or "@" in last else f"{image}:latest"


def _net_id(name: str) -> str:
    return hashlib.sha256(f"net-{name}".encode()).hexdigest()


VERSION = {
    "Platform": {"Name": "Docker Engine - Community"},
    "Version": "24.0.7",
    "ApiVersion": API_VERSION,
    "MinAPIVersion": "1.12",
    "GitCommit": "311b9ff",
    "GoVersion": "go1.20.10",
    "Os": "linux",
    "Arch": "amd64",
    "KernelVersion": "6.1.0",
    "BuildTime": "2023-10-26T09:08:02.000000000+00:00",
}


class _Handler(QuietHandler):
    server: _Server

    def address_string(self) -> str:
        return "unix"

    def do_HEAD(self) -> None:
        self.handle_method("HEAD")

    # -- plumbing --------------------------------------------------------------

    def handle_method(self, method: str) -> None:
        engine = self.server.engine
        url = urlsplit(self.path)
        path = re.sub(r"^/v\d+\.\d+", "", url.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self.read_body()
        body = json.loads(raw) if raw.strip() else {}
        engine.requests.append((method, path))
        if path == "/_ping":
            return self._send(200, "OK", content_type="text/plain")
        if path == "/version":
            return self._send(200, VERSION)
        if engine.failure is not None:
            status, message = engine.failure
            return self._send(status, {"message": message})
        self._route(engine, method, path, query, body)

    def _route(
        self, engine: FakeDockerEngine, method: str, path: str, query: dict[str, str], body: Any
    ) -> None:
        if method == "POST" and path == "/auth":
            return self._send(*engine.login(body))
        if method == "POST" and path == "/images/create":
            image = _qualified(f"{query['fromImage']}:{query.get('tag') or 'latest'}")
            return self._pull(engine, image)
        if m := re.fullmatch(r"/images/(.+)/json", path):
            if _qualified(m.group(1)) in engine.images:
                return self._send(200, {"Id": "sha256:" + "0" * 64, "RepoTags": [m.group(1)]})
            return self._send(404, {"message": f"No such image: {m.group(1)}"})
        if method == "POST" and path == "/containers/create":
            return self._send(*engine.create(query.get("name"), body))
        if m := re.fullmatch(r"/networks/([^/]+)/connect", path):
            return self._connect(engine, m.group(1), body)
        m = re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", path)
        container = engine.find(m.group(1)) if m else None
        if m is None or container is None:
            ref = m.group(1) if m else path
            return self._send(404, {"message": f"No such container: {ref}"})
        self._container(engine, method, m.group(2) or "", container, query)

    def _container(
        self,
        engine: FakeDockerEngine,
        method: str,
        action: str,
        container: FakeContainer,
        query: dict[str, str],
    ) -> None:
        if method == "GET" and action == "/json":
            return self._send(200, container.inspect())
        if method == "POST" and action == "/start":
            return self._send(*engine.start(container))
        if method == "POST" and action in {"/stop", "/kill"}:
            return self._send(*engine.stop(container, kill=action == "/kill"))
        if method == "POST" and action == "/wait":
            return self._send(200, engine.wait_for_exit(container, query.get("condition", "")))
        if method == "DELETE" and action == "":
            return self._send(
                *engine.remove(container, force=query.get("force") in {"1", "true", "True"})
            )
        if method == "GET" and action == "/logs":
            follow = query.get("follow") in {"1", "true", "True"}
            return self._stream_logs(engine.follow_logs(container, follow=follow))
        self._send(404, {"message": "page not found"})

    def _connect(self, engine: FakeDockerEngine, network: str, body: dict[str, Any]) -> None:
        if network not in engine.networks:
            return self._send(404, {"message": f"network {network} not found"})
        container = engine.find(body.get("Container", ""))
        if container is None:
            return self._send(404, {"message": f"No such container: {body.get('Container')}"})
        container.networks[network] = {"NetworkID": _net_id(network)}
        self._send(200, None)

    def _pull(self, engine: FakeDockerEngine, image: str) -> None:
        header = self.headers.get("X-Registry-Auth")
        auth = json.loads(base64.urlsafe_b64decode(header + "==")) if header else None
        status, error = engine.pull(image, auth)
        if status != 200:
            return self._send(status, error)
        name, tag = image.rsplit(":", 1)
        lines = [
            {"status": f"Pulling from {name}", "id": tag},
            {"status": "Digest: sha256:" + "1" * 64},
            {"status": f"Status: Downloaded newer image for {image}"},
        ]
        self._start_chunked(200, "application/json")
        for line in lines:
            self._chunk(json.dumps(line).encode() + b"\r\n")
        self._chunk(b"")

    def _stream_logs(self, frames: Any) -> None:
        self._start_chunked(200, "application/vnd.docker.multiplexed-stream")
        for stream, payload in frames:
            self._chunk(struct.pack(">BxxxL", stream, len(payload)) + payload)
        self._chunk(b"")

    def _start_chunked(self, status: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send(self, status: int, payload: Any, *, content_type: str = "application/json") -> None:
        if payload is None:
            data = b""
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode() + b"\n"
        self.send_response(status)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)
