"""The deployed stack's own secrets as SSM parameters, seen from the API
function: a refused parameter is one log line naming it and the fix, the API
still answers (401 for the token it could not seed, never a 500), and the
next cold start after the fix works."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

from handlers import bootstrap as composition
from tests.e2e.aws_stack import ADMIN_TOKEN, ADMIN_TOKEN_PARAMETER, Stack, deployed_stack

T0 = datetime(2026, 3, 2, 7, 58, 30, tzinfo=UTC)


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with deployed_stack(monkeypatch, now=T0) as deployed:
        yield deployed


def cold_start(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = composition.bootstrap(clock=stack.clock)
    monkeypatch.setattr(composition._Default, "container", fresh)


def test_a_refused_admin_token_parameter_is_one_clear_warning_and_no_500(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    ssm = boto3.client("ssm")
    ssm.delete_parameter(Name=ADMIN_TOKEN_PARAMETER)
    ssm.put_parameter(Name=ADMIN_TOKEN_PARAMETER, Value=ADMIN_TOKEN, Type="String")  # not secure
    cold_start(stack, monkeypatch)

    with caplog.at_level(logging.WARNING):
        stack.api("GET", "/api/work_pools/none", expect=401)
        stack.api("GET", "/api/work_pools/none", expect=401)

    warnings = [r for r in caplog.records if "admin token parameter" in r.getMessage()]
    assert len(warnings) == 2  # one line per request, each the same, without a traceback
    assert len({r.getMessage() for r in warnings}) == 1
    message = warnings[0].getMessage()
    assert ADMIN_TOKEN_PARAMETER in message and "not a SecureString" in message
    assert ADMIN_TOKEN not in message and warnings[0].exc_info is None

    ssm.put_parameter(
        Name=ADMIN_TOKEN_PARAMETER, Value=ADMIN_TOKEN, Type="SecureString", Overwrite=True
    )
    cold_start(stack, monkeypatch)
    stack.api("GET", "/api/work_pools/none", expect=404)  # admitted: the pool does not exist


def test_the_run_token_key_is_created_as_a_securestring_when_first_needed(stack: Stack):
    stack.api("POST", "/api/work_pools/", {"name": "p", "type": "ecs:push"})
    first = composition.bootstrap().signing_key

    stored = boto3.client("ssm").get_parameter(
        Name="/pushpool/pushpool/run-token-key", WithDecryption=True
    )["Parameter"]
    assert stored["Type"] == "SecureString"
    assert first == stored["Value"].encode()
