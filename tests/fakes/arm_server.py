"""A fake Azure Resource Manager serving Microsoft.ContainerInstance container groups.

``azure-mgmt-containerinstance`` talks to it over real HTTP (its ``base_url``
pointed here), so tests exercise the SDK's serialisation, error mapping,
Retry-After handling and long-running-operation headers.  It serves
container groups (PUT create-or-update, GET, DELETE, POST stop) and the
``Azure-AsyncOperation`` status documents, with the shapes of the ARM REST
reference (api-version 2023-05-01): ``properties`` envelopes, secure values
and registry passwords never echoed, ``{"error": {"code", "message"}}``.

Tests move a group's container through its life with ``start``, ``finish``,
``fail_to_start`` and ``remove``, and inject throttling or errors with
``fail_requests``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_fake import QuietHandler, RecordedFailures, loopback_server, take_failure

API_VERSION = "2023-05-01"
GROUP_TYPE = "Microsoft.ContainerInstance/containerGroups"
_GROUP = (
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.ContainerInstance/containerGroups/(?P<name>[^/]+)"
)
_OPERATION = (
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.ContainerInstance"
    r"/locations/(?P<location>[^/]+)/operations/(?P<op>[^/]+)$"
)
GROUP_NAME = re.compile(r"^(?!.*--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class ArmError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Failure:
    status: int
    code: str
    message: str
    retry_after: int | None
    remaining: int | None
    only: re.Pattern[str] | None


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def event(name: str, message: str, kind: str = "Normal") -> dict[str, Any]:
    stamp = now_text()
    return {
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "name": name,
        "message": message,
        "type": kind,
    }


@dataclass
class ArmState:
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # resource id -> group
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    failure: Failure | None = None
    groups_created: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)


class FakeArm(RecordedFailures):
    """The server plus the controls tests use to move container groups along."""

    def __init__(self) -> None:
        self.state = ArmState()
        self.outputs: dict[str, list[str]] = {}  # group id -> its container's output lines
        handler = type("Handler", (_Handler,), {"fake": self})
        self._serve_in_background(loopback_server(handler), poll_interval=0.02)

    # -- controls -----------------------------------------------------------------------

    def fail_requests(
        self,
        *,
        status: int,
        code: str,
        message: str,
        retry_after: int | None = None,
        times: int | None = None,
        only: str | None = None,
    ) -> None:
        """Answer requests with an ARM error (``times`` of them, else until ``heal``),
        only those whose ``"METHOD path"`` matches ``only``, if given."""
        pattern = re.compile(only) if only else None
        with self.state.lock:
            self.state.failure = Failure(status, code, message, retry_after, times, pattern)

    def start(self, group_id: str) -> None:
        with self.state.lock:
            group = self._group(group_id)
            group["properties"]["provisioningState"] = "Succeeded"
            group["properties"]["instanceView"]["state"] = "Running"
            for container in group["properties"]["containers"]:
                image = container["properties"]["image"]
                container["properties"]["instanceView"] = {
                    "restartCount": 0,
                    "currentState": {
                        "state": "Running",
                        "startTime": now_text(),
                        "detailStatus": "",
                    },
                    "events": [
                        event("Pulling", f'pulling image "{image}"'),
                        event("Pulled", f'Successfully pulled image "{image}"'),
                        event("Started", "Started container"),
                    ],
                }

    def finish(self, group_id: str, exit_code: int) -> None:
        with self.state.lock:
            group = self._group(group_id)
            if group["properties"]["instanceView"]["state"] != "Running":
                self.start(group_id)
            group["properties"]["instanceView"]["state"] = (
                "Succeeded" if exit_code == 0 else "Failed"
            )
            for container in group["properties"]["containers"]:
                view = container["properties"]["instanceView"]
                view["currentState"] = {
                    "state": "Terminated",
                    "startTime": view["currentState"]["startTime"],
                    "exitCode": exit_code,
                    "finishTime": now_text(),
                    "detailStatus": "Completed" if exit_code == 0 else "Error",
                }

    def fail_to_start(self, group_id: str, message: str) -> None:
        with self.state.lock:
            group = self._group(group_id)
            group["properties"]["provisioningState"] = "Failed"
            group["properties"]["instanceView"]["state"] = "Failed"
            for container in group["properties"]["containers"]:
                container["properties"]["instanceView"] = {
                    "restartCount": 0,
                    "currentState": {"state": "Waiting", "detailStatus": "ErrImagePull"},
                    "events": [event("Failed", message, "Warning")],
                }

    def remove(self, group_id: str) -> None:
        with self.state.lock:
            self.state.groups.pop(group_id, None)

    def print(self, group_id: str, *lines: str) -> None:
        """The group's (first) container writes ``lines`` to its output."""
        with self.state.lock:
            self._group(group_id)
            self.outputs.setdefault(group_id, []).extend(lines)

    # -- resources ----------------------------------------------------------------------

    def _group(self, group_id: str) -> dict[str, Any]:
        group = self.state.groups.get(group_id)
        if group is None:
            name = group_id.rsplit("/", 1)[-1]
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{GROUP_TYPE}/{name}' under resource group was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return group

    def _operation(self, sub: str, location: str) -> str:
        op = str(uuid.uuid4())
        path = f"/subscriptions/{sub}/providers/Microsoft.ContainerInstance/locations/{location}/operations/{op}"
        self.state.operations[path] = {
            "id": path,
            "name": op,
            "status": "Succeeded",
            "startTime": now_text(),
            "endTime": now_text(),
        }
        return f"{self.url}{path}?api-version={API_VERSION}"

    # -- handlers, called with the lock held --------------------------------------------------

    def put_group(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        group_id = match.group(0)
        _validate(match["name"], body)
        existing = self.state.groups.get(group_id)
        group = copy.deepcopy(body)
        group |= {"id": group_id, "name": match["name"], "type": GROUP_TYPE}
        properties = group["properties"]
        properties.setdefault("sku", "Standard")
        properties.setdefault("initContainers", [])
        if existing is None:
            properties["provisioningState"] = "Pending"
            properties["instanceView"] = {"events": [], "state": "Pending"}
            self.state.groups_created += 1
        else:
            properties["provisioningState"] = existing["properties"]["provisioningState"]
            properties["instanceView"] = existing["properties"]["instanceView"]
        identity = group.get("identity")
        if identity and "SystemAssigned" in identity.get("type", ""):
            identity |= {"principalId": str(uuid.uuid4()), "tenantId": str(uuid.uuid4())}
        self.state.groups[group_id] = group
        headers = {"Azure-AsyncOperation": self._operation(match["sub"], group["location"])}
        return (200 if existing else 201), _public(group), headers

    def get_group(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        return 200, _public(self._group(match.group(0))), {}

    def delete_group(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        group = self.state.groups.pop(match.group(0), None)
        if group is None:
            return 204, None, {}
        operation = self._operation(match["sub"], group["location"])
        return 202, None, {"Azure-AsyncOperation": operation, "Location": operation}

    def stop_group(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        group = self._group(match.group(0).removesuffix("/stop"))
        properties = group["properties"]
        properties["instanceView"]["state"] = "Stopped"
        properties["instanceView"]["events"].append(event("Stopped", "Container group stopped"))
        for container in properties["containers"]:
            container["properties"].pop("instanceView", None)
        return 204, None, {}

    def container_logs(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        """``Containers - List Logs``: the container's whole output as one string
        (``{"content": ...}``), as ARM answers it without ``tail``."""
        group_id = match.group(0).split("/containers/", 1)[0]
        names = [c["name"] for c in self._group(group_id)["properties"]["containers"]]
        if match["container"] not in names:
            raise ArmError(404, "ContainerNotFound", f"Container {match['container']} not found.")
        lines = self.outputs.get(group_id, [])
        return 200, {"content": "".join(f"{line}\n" for line in lines)}, {}

    def get_operation(self, match: re.Match[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        operation = self.state.operations.get(match.group(0))
        if operation is None:
            raise ArmError(404, "OperationNotFound", f"Operation {match['op']} was not found.")
        return 200, operation, {}


def _validate(name: str, body: Any) -> None:
    if not GROUP_NAME.match(name):
        raise ArmError(
            400,
            "ContainerGroupNameInvalid",
            f"The container group name '{name}' is invalid. The name can contain only lowercase "
            "letters, numbers and '-'; it cannot start or end with '-' nor contain '--'; "
            "at most 63 characters.",
        )
    properties = (body or {}).get("properties") or {}
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required.")
    if not properties.get("osType"):
        raise ArmError(400, "OsTypeRequired", "The 'osType' of container group is required.")
    containers = properties.get("containers") or []
    if not containers:
        raise ArmError(400, "ContainerGroupEmpty", "A container group must have a container.")
    for container in containers:
        requests = (container.get("properties") or {}).get("resources", {}).get("requests", {})
        if not container.get("properties", {}).get("image"):
            raise ArmError(400, "InvalidContainerImage", "The container image is required.")
        if "cpu" not in requests or "memoryInGB" not in requests:
            raise ArmError(
                400, "InvalidResourceRequests", "The cpu and memoryInGB requests are required."
            )


def _public(group: dict[str, Any]) -> dict[str, Any]:
    """The group as ARM answers it: secure values and registry passwords withheld."""
    shown = copy.deepcopy(group)
    properties = shown["properties"]
    for container in properties["containers"]:
        for variable in container["properties"].get("environmentVariables", []):
            variable.pop("secureValue", None)
    for credential in properties.get("imageRegistryCredentials", []):
        credential.pop("password", None)
    return shown


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("PUT", re.compile(_GROUP + "$"), "put_group"),
    ("GET", re.compile(_GROUP + "$"), "get_group"),
    ("DELETE", re.compile(_GROUP + "$"), "delete_group"),
    ("POST", re.compile(_GROUP + "/stop$"), "stop_group"),
    ("GET", re.compile(_GROUP + "/containers/(?P<container>[^/]+)/logs$"), "container_logs"),
    ("GET", re.compile(_OPERATION), "get_operation"),
]


class _Handler(QuietHandler):
    fake: FakeArm

    def do_PUT(self) -> None:
        self.handle_method("PUT")

    def handle_method(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.read_body()
        body = json.loads(raw) if raw else None
        state = self.fake.state
        with state.lock:
            record = RecordedRequest(
                method, url.path, parse_qs(url.query), dict(self.headers.items()), body
            )
            state.requests.append(record)
            try:
                status, payload, headers = self._dispatch(method, url.path, record)
            except ArmError as error:
                status, headers = error.status, error.headers
                payload = {"error": {"code": error.code, "message": error.message}}
            record.status, record.response = status, copy.deepcopy(payload)
            record.response_headers = headers
            self._reply(status, payload, headers)

    def _dispatch(
        self, method: str, path: str, record: RecordedRequest
    ) -> tuple[int, Any, dict[str, str]]:
        state = self.fake.state
        if not record.headers.get("Authorization", "").startswith("Bearer "):
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
            )
        if record.query.get("api-version") != [API_VERSION]:
            raise ArmError(
                400, "MissingApiVersionParameter", f"The api-version must be {API_VERSION}."
            )
        failure = take_failure(state, method, path)
        if failure is not None:
            headers = (
                {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            )
            raise ArmError(failure.status, failure.code, failure.message, headers)
        for verb, pattern, action in ROUTES:
            match = pattern.match(path)
            if verb == method and match is not None:
                result: tuple[int, Any, dict[str, str]] = getattr(self.fake, action)(
                    match, record.body
                )
                return result
        raise ArmError(404, "NoRegisteredProviderFound", f"No route for {method} {path}")

    def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
