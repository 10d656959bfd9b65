"""The stack's SecureString parameters on moto's SSM: created on first use,
read once per process, one value when cold functions race to create it, and
one clear error (naming the parameter and the permission) when SSM says no."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.core.authorization import ActionAuthenticatorMixin

from core.errors import InfrastructureError, Transient
from handlers.aws.parameters import MIN_LENGTH, RETRY_AFTER_SECONDS, StackParameters
from tests.clock import FakeMonotonic
from tests.contract.backends import use_moto_environment

NAME = "/pushpool/test-stack/run-token-key"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_moto_environment(monkeypatch, endpoint=None)
    with mock_aws():
        yield boto3.client("ssm")


class Calls:
    """Counts the SSM requests a client sends, by operation."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.made: list[str] = []
        client.meta.events.register("before-call.ssm.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.made.append(model.name)


def test_an_absent_parameter_is_created_as_a_free_securestring_and_read_once(ssm):
    calls = Calls(ssm)
    parameters = StackParameters(lambda: calls.client)

    values = {parameters.value(NAME, what="run-token signing key") for _ in range(5)}

    assert calls.made == ["GetParameter", "PutParameter", "GetParameter"]
    stored = ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [NAME]}])[
        "Parameters"
    ][0]
    assert values == {stored["Value"]} and len(stored["Value"]) >= MIN_LENGTH
    assert stored["Type"] == "SecureString"
    assert described["Tier"] == "Standard"
    assert "Deleting the stack leaves it" in described["Description"]


def test_an_existing_parameter_is_used_as_it_is(ssm):
    ssm.put_parameter(Name=NAME, Value="k" * 64, Type="SecureString")
    calls = Calls(ssm)

    value = StackParameters(lambda: calls.client).value(NAME, what="run-token signing key")

    assert value == "k" * 64
    assert calls.made == ["GetParameter"]


def test_cold_functions_racing_to_create_the_parameter_agree_on_one_value(ssm):
    """Each thread is a cold function with its own client and cache; all of them
    find the parameter missing before any creates it, so all of them try."""
    racers = 8
    everyone_missed = threading.Barrier(racers, timeout=10)
    values: list[str] = []
    outcomes: list[str] = []
    lock = threading.Lock()

    def cold_function() -> None:
        client = boto3.client("ssm")
        seen = {"gets": 0}

        def after_get(**_: Any) -> None:
            seen["gets"] += 1
            if seen["gets"] == 1:
                everyone_missed.wait()

        def after_put(http_response: Any, **_: Any) -> None:
            with lock:
                outcomes.append("created" if http_response.status_code == 200 else "lost")

        client.meta.events.register("after-call.ssm.GetParameter", after_get)
        client.meta.events.register("after-call.ssm.PutParameter", after_put)
        value = StackParameters(lambda: client).value(NAME, what="run-token signing key")
        with lock:
            values.append(value)

    threads = [threading.Thread(target=cold_function) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]["Value"]
    assert values == [stored] * racers
    assert len(outcomes) == racers  # every one of them tried to create it
    assert outcomes.count("created") == 1


def test_threads_of_one_warm_function_share_one_read(ssm):
    calls = Calls(ssm)
    parameters = StackParameters(lambda: calls.client)
    values: list[str] = []

    threads = [
        threading.Thread(target=lambda: values.append(parameters.value(NAME, what="key")))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(values)) == 1 and len(values) == 6
    assert calls.made.count("PutParameter") == 1


@pytest.mark.parametrize(
    ("kind", "value", "complaint"),
    [
        ("String", "p" * 64, "is a String, not a SecureString"),
        ("SecureString", "short", "does not hold a usable value (5 characters)"),
        ("SecureString", "k" * 40 + "\n", "does not hold a usable value"),
        ("SecureString", "k" * 20 + " " + "k" * 20, "does not hold a usable value"),
    ],
)
def test_a_parameter_that_cannot_be_a_strong_secret_is_refused(ssm, kind, value, complaint):
    ssm.put_parameter(Name=NAME, Value=value, Type=kind)

    with pytest.raises(InfrastructureError) as raised:
        StackParameters(lambda: ssm).value(NAME, what="run-token signing key")

    message = str(raised.value)
    assert complaint in message and NAME in message
    assert f"aws ssm delete-parameter --name {NAME}" in message
    assert value.strip() not in message  # the value itself is never echoed
    assert raised.value.retryable is False
    kept = ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]["Value"]
    assert kept == value  # left for the user to fix


def restricted_client(ssm: Any, actions: list[str]) -> Any:
    """An SSM client whose IAM user may do only ``actions`` (moto enforces IAM)."""
    iam = boto3.client("iam")
    iam.create_user(UserName="function")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions}]}
    policy["Statement"][0]["Resource"] = "*"
    iam.put_user_policy(UserName="function", PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="function")["AccessKey"]
    return boto3.client(
        "ssm", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
    )


@pytest.fixture
def enforced_iam() -> Iterator[None]:
    from moto import settings

    before = (settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 3  # restricted_client's IAM calls; then enforced
    ActionAuthenticatorMixin.request_count = 0
    yield
    settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = before


@pytest.mark.parametrize(
    ("allowed", "missing"),
    [([], "ssm:GetParameter"), (["ssm:GetParameter"], "ssm:PutParameter")],
)
def test_a_denied_permission_is_one_error_naming_the_parameter_and_the_permission(
    ssm, enforced_iam, allowed, missing
):
    client = restricted_client(ssm, allowed or ["sqs:GetQueueUrl"])

    with pytest.raises(InfrastructureError) as raised:
        StackParameters(lambda: client).value(NAME, what="run-token signing key")

    message = str(raised.value)
    assert f"may not use SSM parameter {NAME}: grant {missing} on it" in message
    assert raised.value.retryable is False


def test_a_refused_parameter_is_asked_again_a_minute_later_not_on_every_request(ssm):
    ssm.put_parameter(Name=NAME, Value="short", Type="SecureString")
    calls, clock = Calls(boto3.client("ssm")), FakeMonotonic()
    parameters = StackParameters(lambda: calls.client, monotonic=clock)

    for _ in range(3):
        with pytest.raises(InfrastructureError):
            parameters.value(NAME, what="key")
    assert calls.made == ["GetParameter"]

    ssm.put_parameter(Name=NAME, Value="k" * 64, Type="SecureString", Overwrite=True)
    clock.advance(RETRY_AFTER_SECONDS)
    assert parameters.value(NAME, what="key") == "k" * 64
    assert calls.made == ["GetParameter", "GetParameter"]


def test_ssm_out_of_reach_is_transient_and_asked_again_at_once(ssm):
    class Unreachable:
        def get_parameter(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://ssm.us-east-1.amazonaws.com/")

    attempts = {"n": 0}

    def factory() -> Any:
        attempts["n"] += 1
        return Unreachable() if attempts["n"] == 1 else ssm

    parameters = StackParameters(factory)
    with pytest.raises(Transient, match=f"SSM did not answer for parameter {NAME}"):
        parameters.value(NAME, what="key")
    with pytest.raises(Transient):  # the client is kept; no cached failure either
        parameters.value(NAME, what="key")
