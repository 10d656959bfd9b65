"""The fake Docker Engine API is itself held to the real daemon's wire format."""

from __future__ import annotations

import http.client
import json
import socket
import struct

import docker
import pytest

from tests.fakes.docker_engine import STDERR, STDOUT, FakeDockerEngine


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


@pytest.fixture
def engine():
    with FakeDockerEngine() as engine:
        yield engine


def raw(engine: FakeDockerEngine, method: str, path: str, body: object = None):
    connection = UnixConnection(engine.socket_path)
    payload = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if payload else {}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def test_logs_use_dockers_multiplexed_framing(engine):
    _, created = engine.create("framed", {"Image": "busybox", "Cmd": ["true"]})
    engine.log(created["Id"], "out\n")
    engine.log(created["Id"], "err\n", stream=STDERR)

    status, headers, body = raw(engine, "GET", "/v1.43/containers/framed/logs?stdout=1&stderr=1")

    assert status == 200
    assert headers["Content-Type"] == "application/vnd.docker.multiplexed-stream"
    frames = []
    while body:
        kind, length = struct.unpack(">BxxxL", body[:8])
        frames.append((kind, body[8 : 8 + length]))
        body = body[8 + length :]
    assert frames == [(STDOUT, b"out\n"), (STDERR, b"err\n")]


def test_errors_are_json_messages_with_the_daemons_status_codes(engine):
    missing = raw(engine, "GET", "/v1.43/containers/nope/json")
    engine.create("taken", {"Image": "busybox"})
    conflict = raw(engine, "POST", "/v1.43/containers/create?name=taken", {"Image": "busybox"})
    no_image = raw(engine, "POST", "/v1.43/containers/create?name=x", {"Image": "alpine"})

    assert (missing[0], json.loads(missing[2])) == (404, {"message": "No such container: nope"})
    assert (
        conflict[0] == 409
        and "is already in use by container" in json.loads(conflict[2])["message"]
    )
    assert (no_image[0], json.loads(no_image[2])) == (
        404,
        {"message": "No such image: alpine:latest"},
    )


def test_the_sdk_maps_the_fakes_answers_to_its_own_models_and_errors(engine):
    sdk = docker.DockerClient(base_url=engine.base_url)
    container = sdk.containers.create(
        "busybox", ["echo", "hi"], name="modelled", labels={"a": "b"}, environment={"X": "1"}
    )

    container.start()
    container.reload()

    assert (container.name, container.status, container.labels) == (
        "modelled",
        "running",
        {"a": "b"},
    )
    assert container.attrs["Config"]["Env"] == ["X=1"]
    with pytest.raises(docker.errors.NotFound):
        sdk.containers.get("nope")
    with pytest.raises(docker.errors.ImageNotFound):
        sdk.containers.create("alpine")


def test_stop_on_a_stopped_container_is_not_modified_and_remove_refuses_a_running_one(engine):
    _, created = engine.create("stopper", {"Image": "busybox"})
    engine.start(engine.containers[created["Id"]])

    refused = raw(engine, "DELETE", "/v1.43/containers/stopper")
    stopped = raw(engine, "POST", "/v1.43/containers/stopper/stop")
    again = raw(engine, "POST", "/v1.43/containers/stopper/stop")

    assert refused[0] == 409 and "container is running" in json.loads(refused[2])["message"]
    assert (stopped[0], again[0]) == (204, 304)
    assert engine.containers[created["Id"]].exit_code == 143
