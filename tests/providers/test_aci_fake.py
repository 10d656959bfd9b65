"""The fake ARM server is held to the real API's shapes.

``tests/fakes/recorded/arm_container_groups.json`` holds exchanges written
down from the Container Instance REST reference.  The recordings are checked
against the SDK's own models (every field they carry is one the official
``ContainerGroup`` model knows), and the fake's answers to the same calls,
made through the official SDK, must carry at least the recorded fields with
the same JSON types and headers.  The SDK's long-running-operation poller
must also finish against the fake's ``Azure-AsyncOperation`` documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerinstance import ContainerInstanceManagementClient
from azure.mgmt.containerinstance import models as aci_models

from tests.fakes.arm_server import FakeArm, RecordedRequest
from tests.providers.test_aci import SUBSCRIPTION, StaticToken, client_kwargs
from tests.providers.test_cloud_run_fake import shape

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fakes" / "recorded" / "arm_container_groups.json").read_text()
)["exchanges"]
GROUP_NAME = "pp-5d0c7f1e-2f4b-4b7e-9d8e-1a2b3c4d5e6f-1"
_UNESCAPED_DOT = re.compile(r"(?<!\\)\.")


def unknown_fields(model: type, data: dict[str, Any], path: str = "") -> set[str]:
    """Fields of ``data`` that the SDK model (with its flattened keys) does not define."""
    known: set[tuple[str, ...]] = set()
    unknown: set[str] = set()
    for spec in model._attribute_map.values():  # type: ignore[attr-defined]
        parts = tuple(p.replace("\\.", ".") for p in _UNESCAPED_DOT.split(spec["key"]))
        value: Any = data
        for part in parts:
            value = value.get(part, KeyError) if isinstance(value, dict) else KeyError
        if value is KeyError:
            continue
        known.add(parts)
        unknown |= _check(spec["type"], value, f"{path}.{'.'.join(parts)}")
    for key, value in data.items():
        nested = {k[1] for k in known if k[0] == key and len(k) > 1}
        if (key,) in known:
            continue
        if not nested:
            unknown.add(f"{path}.{key}")
        else:
            unknown |= {f"{path}.{key}.{sub}" for sub in value if sub not in nested}
    return unknown


def _check(type_name: str, value: Any, path: str) -> set[str]:
    if type_name.startswith("[") and isinstance(value, list):
        return set().union(*(_check(type_name[1:-1], v, f"{path}[]") for v in value))
    if type_name.startswith("{") and isinstance(value, dict):
        return set().union(*(_check(type_name[1:-1], v, f"{path}.*") for v in value.values()))
    model = getattr(aci_models, type_name, None)
    if isinstance(model, type) and hasattr(model, "_attribute_map") and isinstance(value, dict):
        return unknown_fields(model, value, path)
    return set()


def check_payload(payload: Any) -> None:
    if payload is None:
        return
    if "error" in payload:
        assert set(payload["error"]) >= {"code", "message"}
    elif "status" in payload and "properties" not in payload:
        assert payload["status"] in {"Succeeded", "Failed", "Canceled", "InProgress"}
    else:
        assert unknown_fields(aci_models.ContainerGroup, payload) == set()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeArm]:
    with FakeArm() as server:
        yield server


@pytest.fixture(scope="module")
def client(fake: FakeArm) -> ContainerInstanceManagementClient:
    return ContainerInstanceManagementClient(
        StaticToken(), SUBSCRIPTION, **client_kwargs(fake, polling_interval=0, retry_total=0)
    )


@pytest.fixture(scope="module")
def fake_exchanges(
    fake: FakeArm, client: ContainerInstanceManagementClient
) -> dict[str, RecordedRequest]:
    """Drive the official SDK through the recorded calls; keep the fake's answers."""
    groups = client.container_groups
    put = next(e for e in RECORDED if e["call"] == "CreateOrUpdate")
    body = aci_models.ContainerGroup.deserialize(put["request"])
    # deserialize() drops write-only values; put them back as a caller would set them.
    body.containers[0].environment_variables[1].secure_value = "run-token-secret"
    body.image_registry_credentials[0].password = "registry-password"
    calls: dict[str, RecordedRequest] = {}

    def last(call: str) -> None:
        calls[call] = fake.state.requests[-1]

    created = groups.begin_create_or_update("flows-rg", GROUP_NAME, body, polling=False).result()
    last("CreateOrUpdate")
    fake.start(created.id)
    groups.get("flows-rg", GROUP_NAME)
    last("Get (running)")
    fake.finish(created.id, 3)
    groups.get("flows-rg", GROUP_NAME)
    last("Get (terminated)")
    fake.fail_to_start(created.id, 'Failed to pull image "x": manifest unknown')
    groups.get("flows-rg", GROUP_NAME)
    last("Get (image pull failed)")
    with pytest.raises(ResourceNotFoundError):
        groups.get("flows-rg", "gone")
    last("Get (missing)")
    groups.stop("flows-rg", GROUP_NAME)
    last("Stop")
    poller = groups.begin_delete("flows-rg", GROUP_NAME)
    delete = next(r for r in fake.state.requests if r.method == "DELETE")
    calls["Delete"] = delete
    poller.result()
    last("Operation status")
    fake.fail_requests(status=429, code="TooManyRequests", message="throttled", retry_after=3)
    with pytest.raises(HttpResponseError):
        groups.get("flows-rg", GROUP_NAME)
    fake.heal()
    last("Throttled")
    return calls


def test_the_recorded_shapes_are_ones_the_sdk_models_define():
    for exchange in RECORDED:
        check_payload(exchange["response"])
        check_payload(exchange.get("request"))


@pytest.mark.parametrize("exchange", RECORDED, ids=[e["call"] for e in RECORDED])
def test_the_fake_answers_like_the_recording(
    exchange: dict[str, Any], fake_exchanges: dict[str, RecordedRequest]
):
    got = fake_exchanges[exchange["call"]]

    assert got.method == exchange["method"]
    assert got.path.split("/")[:5] == exchange["path"].split("/")[:5]
    assert {k: v[0] for k, v in got.query.items()} == exchange["query"]
    assert got.status == exchange["status"]
    for header in exchange.get("response_headers", []):
        assert header in got.response_headers
    check_payload(got.response)
    if exchange["response"] is None:
        assert got.response is None
    else:
        missing = shape(exchange["response"]) - shape(got.response)
        assert not missing, f"the fake leaves out or mistypes {sorted(missing)}"


def test_the_sdk_sends_the_recorded_request_body(fake_exchanges: dict[str, RecordedRequest]):
    put = next(e for e in RECORDED if e["call"] == "CreateOrUpdate")
    assert fake_exchanges["CreateOrUpdate"].body == put["request"]


def test_the_sdk_poller_completes_against_the_fakes_async_operation_headers(
    fake: FakeArm, client: ContainerInstanceManagementClient
):
    put = next(e for e in RECORDED if e["call"] == "CreateOrUpdate")
    body = aci_models.ContainerGroup.deserialize(put["request"])

    group = client.container_groups.begin_create_or_update("flows-rg", "polled", body).result()
    assert group.name == "polled"
    assert fake.requests_to("GET", r"/operations/")

    client.container_groups.begin_delete("flows-rg", "polled").result()
    with pytest.raises(ResourceNotFoundError):
        client.container_groups.get("flows-rg", "polled")


def test_the_fake_refuses_a_request_without_a_bearer_token(fake: FakeArm):
    import urllib.error
    import urllib.request

    url = (
        f"{fake.url}/subscriptions/{SUBSCRIPTION}/resourceGroups/flows-rg/providers"
        f"/Microsoft.ContainerInstance/containerGroups/x?api-version=2023-05-01"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    assert refused.value.code == 401
