"""The composition root in the cloud: configuration from the environment the
template sets, the stack's parameters and the families' secrets read once per
cold start, the stack's admin token,
providers built with their family's credentials and the managed resources."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.services.auth import authenticate
from core.services.context import NoTrigger
from core.states import StateType, new_state
from core.store import dynamodb
from handlers.aws.families import Family
from handlers.aws.parameters import StackParameters
from handlers.aws.settings import AwsSettings, ManagedResources
from handlers.aws.sqs import SqsDispatchTrigger
from handlers.bootstrap import ReadThroughCache, Settings, bootstrap
from tests.clock import FakeClock
from tests.contract.backends import use_moto_environment
from tests.contract.builders import NOW, add_pool, add_run
from tests.integration.support import Triggers

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-DispatchQueue-1"
TEMPLATE_ENVIRONMENT = {
    "PUSHPOOL_STORE": "dynamodb://pushpool-Table-1",
    "PUSHPOOL_RUN_RETENTION_DAYS": "30",
    "PUSHPOOL_RUN_TOKEN_KEY_PARAMETER": "/pushpool/pushpool/run-token-key",
    "PUSHPOOL_DISPATCH_QUEUE_URL": QUEUE,
    "PUSHPOOL_DISPATCH_MAX_RECEIVE_COUNT": "7",
    "PUSHPOOL_DISPATCH_QUEUE_URL_GCP": "",
    "PUSHPOOL_DISPATCH_QUEUE_URL_AZURE": "",
    "PUSHPOOL_DISPATCH_QUEUE_URL_MODAL": f"{QUEUE}-modal",
    "PUSHPOOL_MODAL_TOKEN_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:m-1",
    "PUSHPOOL_API_URL": "https://abc.execute-api.us-east-1.amazonaws.com/api",
    "PUSHPOOL_MANAGED_CLUSTER": "arn:aws:ecs:us-east-1:123456789012:cluster/managed",
    "PUSHPOOL_MANAGED_SUBNETS": "subnet-a, subnet-b",
    "PUSHPOOL_MANAGED_SECURITY_GROUPS": "",
    "PUSHPOOL_MANAGED_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/exec",
    "PUSHPOOL_MANAGED_LOG_GROUP": "pushpool-logs",
}


def test_settings_are_read_as_the_template_sets_them():
    settings = Settings.from_env(TEMPLATE_ENVIRONMENT)

    assert settings.store_url == "dynamodb://pushpool-Table-1"
    assert settings.api_url == "https://abc.execute-api.us-east-1.amazonaws.com/api"
    assert settings.aws == AwsSettings(
        queues={Family.AWS: QUEUE, Family.MODAL: f"{QUEUE}-modal"},  # empty URLs: switched off
        max_receive_count=7,
        run_token_key_parameter="/pushpool/pushpool/run-token-key",
        credential_secrets={Family.MODAL: TEMPLATE_ENVIRONMENT["PUSHPOOL_MODAL_TOKEN_SECRET"]},
        managed=ManagedResources(
            cluster="arn:aws:ecs:us-east-1:123456789012:cluster/managed",
            subnets=("subnet-a", "subnet-b"),
            execution_role_arn="arn:aws:iam::123456789012:role/exec",
            log_group="pushpool-logs",
        ),
        run_retention=timedelta(days=30),
    )
    assert (
        settings.aws.family_of_queue("arn:aws:sqs:us-east-1:123456789012:pushpool-DispatchQueue-1")
        is Family.AWS
    )


def test_a_retired_secrets_manager_variable_is_refused_not_silently_ignored():
    environment = {**TEMPLATE_ENVIRONMENT, "PUSHPOOL_RUN_TOKEN_KEY_SECRET": "arn:aws:sm:k-1"}

    with pytest.raises(ValueError, match="set PUSHPOOL_RUN_TOKEN_KEY_PARAMETER to an SSM"):
        Settings.from_env(environment)


def test_outside_the_cloud_nothing_aws_is_configured():
    settings = Settings.from_env({"PUSHPOOL_STORE": "sqlite:///x.db"})

    assert settings.aws == AwsSettings()
    assert isinstance(bootstrap(settings=settings).trigger, NoTrigger)


def test_with_dispatch_queues_the_trigger_is_sqs_and_an_override_still_wins():
    settings = Settings.from_env(TEMPLATE_ENVIRONMENT)
    triggers = Triggers()

    assert isinstance(bootstrap(settings=settings).trigger, SqsDispatchTrigger)
    assert bootstrap(settings=settings, trigger=triggers).trigger is triggers
    assert bootstrap(settings=settings, trigger=triggers).dispatch_queues is None


# -- secrets -----------------------------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_moto_environment(monkeypatch, endpoint=None)
    with mock_aws():
        yield boto3.client("secretsmanager")


class CountingParameters:
    def __init__(self, client: Any) -> None:
        self.reads = 0
        client.meta.events.register("before-call.ssm.GetParameter", self._count)
        self.client = client

    def _count(self, **_: Any) -> None:
        self.reads += 1


KEY = "/pushpool/pushpool/run-token-key"
ADMIN = "/pushpool/pushpool/admin-token"


def test_the_signing_key_is_read_from_its_parameter_once_per_cold_start(aws):
    boto3.client("ssm").put_parameter(Name=KEY, Value="s" * 64, Type="SecureString")
    counting = CountingParameters(boto3.client("ssm"))
    settings = Settings(store_url="sqlite://", aws=AwsSettings(run_token_key_parameter=KEY))
    parameters = StackParameters(lambda: counting.client)
    container = bootstrap(settings=settings, parameters=parameters)

    tokens = {container.run_token("run-1"), container.run_token("run-1")}

    assert container.signing_key == b"s" * 64
    assert len(tokens) == 1
    assert counting.reads == 1


def test_the_first_cold_function_creates_the_signing_key_and_the_next_signs_alike(aws):
    settings = Settings(store_url="sqlite://", aws=AwsSettings(run_token_key_parameter=KEY))
    first, second = bootstrap(settings=settings), bootstrap(settings=settings)

    assert first.run_token("run-1") == second.run_token("run-1")
    stored = boto3.client("ssm").get_parameter(Name=KEY, WithDecryption=True)["Parameter"]
    assert first.signing_key == stored["Value"].encode()


def test_the_stacks_admin_token_parameter_is_an_admin_token(aws):
    settings = Settings(store_url="sqlite://", aws=AwsSettings(admin_token_parameter=ADMIN))
    container = bootstrap(settings=settings)

    container.seed_admin_token()
    container.seed_admin_token()  # once per cold start; no second token

    # What the README tells the user to run: aws ssm get-parameter --with-decryption ...
    token = boto3.client("ssm").get_parameter(Name=ADMIN, WithDecryption=True)["Parameter"]
    principal = authenticate(container.store, f"Bearer {token['Value']}", now=NOW, signing_key=None)
    assert principal.scope == "admin"


def test_an_admin_token_put_over_the_parameter_is_added_at_the_next_cold_start(aws):
    """Rotation: the old token stays valid until it is deleted through the API."""
    settings = Settings(store_url="sqlite://", aws=AwsSettings(admin_token_parameter=ADMIN))
    first = bootstrap(settings=settings)
    first.seed_admin_token()
    ssm = boto3.client("ssm")
    old = ssm.get_parameter(Name=ADMIN, WithDecryption=True)["Parameter"]["Value"]
    ssm.put_parameter(Name=ADMIN, Value="n" * 64, Type="SecureString", Overwrite=True)

    bootstrap(settings=settings, store=first.store).seed_admin_token()

    for token in (old, "n" * 64):
        principal = authenticate(first.store, f"Bearer {token}", now=NOW, signing_key=None)
        assert principal.scope == "admin"


def test_providers_get_their_familys_credentials_and_ecs_the_managed_resources(aws):
    aws.create_secret(
        Name="modal-token", SecretString='{"token_id": "ak-1", "token_secret": "as-1"}'
    )
    managed = ManagedResources(cluster="managed-cluster", subnets=("subnet-a",), log_group="logs")
    settings = Settings(
        store_url="sqlite://",
        aws=AwsSettings(credential_secrets={Family.MODAL: "modal-token"}, managed=managed),
    )
    container = bootstrap(settings=settings)

    assert container.provider_options("modal:push") == {
        "secret": '{"token_id": "ak-1", "token_secret": "as-1"}'
    }
    ecs_options = container.provider_options("managed")
    cache = ecs_options.pop("cache")
    cache.put_cached("ecs:task-definition:us-east-1:abc", "arn:td:1")
    assert container.store.get_cached("ecs:task-definition:us-east-1:abc") == "arn:td:1"
    assert ecs_options == {
        "cluster": "managed-cluster",
        "subnets": ("subnet-a",),
        "log_group": "logs",
    }
    assert container.provider_options("cloud-run-v2:push") == {}  # no secret: default credentials
    assert container.provider_options("process") == {}


def test_finished_runs_expire_after_the_configured_retention(aws):
    dynamodb.create_table(boto3.client("dynamodb"), "pushpool-ttl")
    clock = FakeClock(NOW)
    settings = Settings(
        store_url="dynamodb://pushpool-ttl", aws=AwsSettings(run_retention=timedelta(days=7))
    )
    store = bootstrap(settings=settings, clock=clock).store
    pool, queue = add_pool(store, pool_type="ecs:push")
    run = add_run(store, pool, queue)

    store.record_state(run, new_state(StateType.CANCELLED, at=NOW))

    item = boto3.client("dynamodb").get_item(
        TableName="pushpool-ttl", Key={"pk": {"S": f"R#{run.id}"}, "sk": {"S": "RUN"}}
    )["Item"]
    assert int(item["expires"]["N"]) == int((NOW + timedelta(days=7)).timestamp())


class CountingCache:
    def __init__(self) -> None:
        self.values = {"ecs:task-definition:us-east-1:abc": "arn:td:1"}
        self.reads = 0

    def get_cached(self, key: str) -> str | None:
        self.reads += 1
        return self.values.get(key)

    def put_cached(self, key: str, value: str) -> None:
        self.values[key] = value


def test_a_warm_function_reads_each_task_definition_arn_from_the_store_once():
    store = CountingCache()
    cache = ReadThroughCache(store)  # type: ignore[arg-type]

    found = [cache.get_cached("ecs:task-definition:us-east-1:abc") for _ in range(3)]
    missing = [cache.get_cached("ecs:task-definition:us-east-1:new") for _ in range(2)]
    cache.put_cached("ecs:task-definition:us-east-1:new", "arn:td:2")

    assert found == ["arn:td:1"] * 3 and missing == [None, None]
    assert store.reads == 3  # one hit, then misses are asked again until the value exists
    assert cache.get_cached("ecs:task-definition:us-east-1:new") == "arn:td:2"
    assert store.values["ecs:task-definition:us-east-1:new"] == "arn:td:2"
