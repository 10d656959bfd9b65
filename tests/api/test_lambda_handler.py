"""The Lambda entry point serves API Gateway HTTP API (payload 2.0) events with
the container bootstrapped from the environment, as on AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.services.auth import create_token
from handlers import bootstrap as composition
from handlers.api import handler


def event(method: str, path: str, *, body: Any = None, token: str | None = None) -> dict[str, Any]:
    """An event shaped as API Gateway sends it (see AWS's payload 2.0 example)."""
    headers = {
        "content-type": "application/json",
        "host": "abc123.execute-api.us-east-1.amazonaws.com",
    }
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A cold start: the container is built from PUSHPOOL_* variables."""
    monkeypatch.setenv("PUSHPOOL_STORE", f"sqlite:///{tmp_path / 'lambda.db'}")
    monkeypatch.setenv("PUSHPOOL_API_URL", "https://abc123.execute-api.us-east-1.amazonaws.com/api")
    monkeypatch.delenv("PUSHPOOL_AUTH", raising=False)
    monkeypatch.setattr(composition._Default, "container", None)
    store = composition.bootstrap().store
    yield create_token(
        store, scope="admin", secret="x" * 40, token_id="t1", now=composition.utc_now()
    )
    monkeypatch.setattr(composition._Default, "container", None)


def test_health_needs_no_token(lambda_env: str):
    answer = handler(event("GET", "/api/health"), None)
    assert (answer["statusCode"], answer["body"]) == (200, "true")


def test_requests_need_a_token_and_then_work(lambda_env: str):
    refused = handler(event("POST", "/api/work_pools/", body={"name": "p"}), None)
    assert refused["statusCode"] == 401
    assert refused["headers"]["WWW-Authenticate"] == "Bearer"
    created = handler(event("POST", "/api/work_pools/", body={"name": "p"}, token=lambda_env), None)
    assert created["statusCode"] == 201
    assert json.loads(created["body"])["name"] == "p"
    read = handler(event("GET", "/api/work_pools/p", token=lambda_env), None)
    assert json.loads(read["body"])["default_queue_id"]


def test_the_container_is_built_once_per_cold_start(lambda_env: str):
    assert composition.bootstrap() is composition.bootstrap()


def test_a_push_pool_whose_family_has_no_dispatch_function_is_not_ready_and_says_what_to_deploy(
    lambda_env: str, monkeypatch: pytest.MonkeyPatch
):
    # Only the ECS family's queue is configured: the stack was deployed without EnableGcp.
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-dispatch"
    monkeypatch.setenv("PUSHPOOL_DISPATCH_QUEUE_URL", queue)
    monkeypatch.setattr(composition._Default, "container", None)
    monkeypatch.setattr(
        composition.Container, "trigger", property(lambda self: composition.NoTrigger())
    )

    def pool(name: str, pool_type: str) -> dict[str, Any]:
        body = {"name": name, "type": pool_type}
        answer = handler(event("POST", "/api/work_pools/", body=body, token=lambda_env), None)
        assert answer["statusCode"] == 201, answer["body"]
        read = handler(event("GET", f"/api/work_pools/{name}", token=lambda_env), None)
        return json.loads(read["body"])

    gcp = pool("gcp", "cloud-run-v2:push")
    assert gcp["status"] == "NOT_READY"
    assert "no dispatch function for gcp pools" in gcp["status_reason"]
    assert "EnableGcp" in gcp["status_reason"]
    ecs = pool("ecs", "ecs:push")
    assert (ecs["status"], ecs["status_reason"]) == ("READY", None)
