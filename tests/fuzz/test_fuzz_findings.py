"""Regression tests for what fuzzing the API found (issue 9), on both stores.

Each was a 500 before; each is now a 4xx with a ``detail`` that says what
to fix, and leaves the store as it was.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import httpx
import pytest

from handlers.api import handle
from handlers.api.body import MAX_BODY_BYTES
from tests.fuzz.live import STORES, LiveApi, live_api, refused


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest) -> Iterator[LiveApi]:
    with live_api(request.param) as api:
        http = api.client(api.admin)
        http.post("/work_pools/", json={"name": "found", "type": "process"})
        yield api


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"name": "plain"}'),
        ("application/xml", b"<flow><name>x</name></flow>"),
        ("multipart/form-data", b"name=x"),
        ("application/x-www-form-urlencoded", b"name=form"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_415(
    live: LiveApi, admin: httpx.Client, content_type: str, body: bytes
) -> None:
    detail = refused(
        live,
        lambda: admin.post("/flows/", content=body, headers={"content-type": content_type}),
        415,
    )
    assert "application/json" in detail


def test_json_with_a_charset_or_no_content_type_is_still_read(admin: httpx.Client) -> None:
    typed = admin.post(
        "/flows/",
        content=b'{"name": "typed"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    untyped = admin.post("/flows/", content=b'{"name": "untyped"}', headers={"content-type": ""})
    assert typed.status_code == 201, typed.text
    assert untyped.status_code == 201, untyped.text


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 65 + b"1" + b"}" * 65],
    ids=["beyond-the-decoder", "beyond-64-levels"],
)
def test_json_nested_too_deep_is_refused_with_422(
    live: LiveApi, admin: httpx.Client, body: bytes
) -> None:
    detail = refused(
        live,
        lambda: admin.post("/flows/", content=body, headers={"content-type": "application/json"}),
        422,
    )
    assert "nests deeper" in detail


def test_a_lone_surrogate_in_a_string_is_refused_with_422(
    live: LiveApi, admin: httpx.Client
) -> None:
    body = b'{"name": "half-\\ud800-a-character"}'
    detail = refused(
        live,
        lambda: admin.post("/flows/", content=body, headers={"content-type": "application/json"}),
        422,
    )
    assert "surrogate" in detail


def test_an_unknown_state_type_in_a_run_filter_is_refused_with_422(
    live: LiveApi, admin: httpx.Client
) -> None:
    body = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED", "SOON"]}}}}
    detail = refused(live, lambda: admin.post("/flow_runs/filter", json=body), 422)
    assert "'SOON'" in detail
    assert "SCHEDULED" in detail


def test_an_empty_pool_name_finds_nothing(live: LiveApi, admin: httpx.Client) -> None:
    """DynamoDB refuses empty key values outright; no pool has an empty name."""
    runs = admin.post("/flow_runs/filter", json={"work_pools": {"name": {"any_": [""]}}})
    assert runs.status_code == 200, runs.text
    assert runs.json() == []
    refused(
        live,
        lambda: admin.post("/tokens/", json={"scope": "worker", "pool_name": ""}),
        404,
    )


def test_an_object_too_large_for_the_store_is_refused_with_422_on_dynamodb(
    live: LiveApi, admin: httpx.Client
) -> None:
    """DynamoDB holds 400 KB per item; incompressible text of 600 KB cannot fit."""
    description = base64.b64encode(os.urandom(450_000)).decode()
    body = {"name": "too-large", "type": "process", "description": description}
    if live.kind != "dynamodb":
        assert admin.post("/work_pools/", json=body).status_code == 201
        return
    detail = refused(live, lambda: admin.post("/work_pools/", json=body), 422)
    assert "too large" in detail


def test_a_name_too_long_for_a_dynamodb_key_is_refused_with_422_or_not_found(
    live: LiveApi, admin: httpx.Client
) -> None:
    name = "n" * 1500
    assert admin.get(f"/work_pools/{name}").status_code == 404
    if live.kind == "dynamodb":
        refused(
            live, lambda: admin.post("/work_pools/", json={"name": name, "type": "process"}), 422
        )


def test_the_lambda_entry_point_refuses_a_body_over_the_limit_with_413(live: LiveApi) -> None:
    """API Gateway passes bodies up to 10 MB: the limit is the handler's own."""
    body = '{"name": "' + "x" * MAX_BODY_BYTES + '"}'
    event = {
        "version": "2.0",
        "rawPath": "/api/flows/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": f"Bearer {live.admin}"},
        "requestContext": {"http": {"method": "POST", "path": "/api/flows/"}},
        "body": body,
        "isBase64Encoded": False,
    }
    before = live.snapshot()
    answer = handle(event, container=live.container)
    assert answer["statusCode"] == 413
    assert "larger than" in answer["body"]
    assert live.snapshot() == before
