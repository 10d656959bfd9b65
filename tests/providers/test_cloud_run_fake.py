"""The fake Cloud Run server is held to the real API's shapes.

``tests/fakes/recorded/cloud_run_v2.json`` holds exchanges written down from
the public REST reference.  Two checks keep the fake honest: the recordings
parse *strictly* into the official client's message types (so they are real
shapes, not invented ones), and every exchange the fake produces for the
same calls parses strictly too and carries at least the recorded fields,
with the same JSON types (integers for enums, strings for int64).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import json_format

from tests.fakes.cloud_run_server import FakeCloudRun, RecordedRequest

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fakes" / "recorded" / "cloud_run_v2.json").read_text()
)["exchanges"]
MESSAGE_TYPES: dict[str, Any] = {
    "google.longrunning.Operation": operations_pb2.Operation,
    "google.cloud.run.v2.Job": run_v2.Job.pb(),
    "google.cloud.run.v2.Execution": run_v2.Execution.pb(),
    "google.cloud.run.v2.ListExecutionsResponse": run_v2.ListExecutionsResponse.pb(),
    "google.cloud.run.v2.ListTasksResponse": run_v2.ListTasksResponse.pb(),
}
MAPS = {"labels", "annotations", "limits"}  # user-keyed maps: compare their values' types only


def parse_strictly(type_name: str, payload: Any) -> None:
    if type_name == "error":
        assert set(payload["error"]) >= {"code", "message", "status"}
        return
    json_format.Parse(json.dumps(payload), MESSAGE_TYPES[type_name](), ignore_unknown_fields=False)


def shape(value: Any, path: str = "") -> set[str]:
    """Every JSON path with its JSON type; list items merged, map keys collapsed."""
    if isinstance(value, dict):
        paths = {f"{path}:object"}
        for key, item in value.items():
            name = "*" if path.rsplit(".", 1)[-1] in MAPS else key
            paths |= shape(item, f"{path}.{name}")
        return paths
    if isinstance(value, list):
        return {f"{path}:array"}.union(*(shape(item, f"{path}[]") for item in value))
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value))
    return {f"{path}:{kind or 'null'}"}


@pytest.fixture(scope="module")
def fake_exchanges() -> Iterator[dict[str, RecordedRequest]]:
    """Drive the official client through the recorded calls; keep the fake's answers."""
    with FakeCloudRun() as fake:
        options = {"api_endpoint": fake.url}
        kwargs = {"credentials": AnonymousCredentials(), "transport": "rest"}
        jobs = run_v2.JobsClient(client_options=options, **kwargs)
        executions = run_v2.ExecutionsClient(client_options=options, **kwargs)
        tasks = run_v2.TasksClient(client_options=options, **kwargs)
        create = next(e for e in RECORDED if e["call"] == "CreateJob")
        parent = "projects/demo-project/locations/europe-west1"
        job_id = create["query"]["jobId"]
        body = run_v2.Job.from_json(json.dumps(create["request"]))
        calls: dict[str, RecordedRequest] = {}

        def last(call: str) -> None:
            calls[call] = fake.state.requests[-1]

        job = jobs.create_job(parent=parent, job=body, job_id=job_id).result()
        last("CreateJob")
        with pytest.raises(Exception):
            jobs.create_job(parent=parent, job=body, job_id=job_id)
        last("CreateJob (exists)")
        execution = jobs.run_job(name=job.name).metadata.name
        last("RunJob")
        fake.start(execution)
        executions.get_execution(name=execution)
        last("GetExecution (running)")
        jobs.get_job(name=job.name)
        last("GetJob")
        list(executions.list_executions(parent=job.name))
        last("ListExecutions")
        fake.finish(execution, 3)
        executions.get_execution(name=execution)
        last("GetExecution (failed)")
        list(tasks.list_tasks(parent=execution))
        last("ListTasks")
        second = jobs.run_job(name=job.name).metadata.name
        executions.cancel_execution(name=second)
        last("CancelExecution")
        with pytest.raises(Exception):
            executions.get_execution(name=f"{job.name}/executions/gone")
        last("GetExecution (missing)")
        jobs.delete_job(name=job.name)
        last("DeleteJob")
        yield calls


def test_the_recorded_shapes_are_real_cloud_run_shapes():
    for exchange in RECORDED:
        parse_strictly(exchange["response_type"], exchange["response"])
        if "request_type" in exchange:
            parse_strictly(exchange["request_type"], exchange["request"])


@pytest.mark.parametrize("exchange", RECORDED, ids=[e["call"] for e in RECORDED])
def test_the_fake_answers_like_the_recording(
    exchange: dict[str, Any], fake_exchanges: dict[str, RecordedRequest]
):
    got = fake_exchanges[exchange["call"]]

    assert got.method == exchange["method"]
    assert f"/v2/{got.path}".split("/")[:6] == exchange["path"].split("/")[:6]
    assert {k: v[0] for k, v in got.query.items()}.keys() == exchange["query"].keys()
    assert got.query["$alt"] == ["json;enum-encoding=int"]
    assert got.status == exchange["status"]
    parse_strictly(exchange["response_type"], got.response)
    missing = shape(exchange["response"]) - shape(got.response)
    assert not missing, f"the fake leaves out or mistypes {sorted(missing)}"


def test_the_client_sends_the_recorded_job_body():
    create = next(e for e in RECORDED if e["call"] == "CreateJob")
    with FakeCloudRun() as fake:
        jobs = run_v2.JobsClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options={"api_endpoint": fake.url},
        )
        body = run_v2.Job.from_json(json.dumps(create["request"]))
        jobs.create_job(
            parent="projects/demo-project/locations/europe-west1",
            job=body,
            job_id=create["query"]["jobId"],
        )
        assert fake.state.requests[0].body == create["request"]
