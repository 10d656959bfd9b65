"""Azure Container Instances: the official SDK, over HTTP, against the fake ARM server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy

from core.errors import InfrastructureError
from core.ports import InfraPhase, Job
from providers.aci import AciProvider, make_provider
from providers.aci.provider import parse_group_id
from providers.aci.request import RUN_TAG
from providers.shared import dns_name
from tests.fakes.arm_server import FakeArm
from tests.providers.contract import make_job, run

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
CONFIGURATION = {
    "subscription_id": SUBSCRIPTION,
    "resource_group_name": "flows-rg",
    "location": "westeurope",
    "image": "acme.azurecr.io/flows:1.2",
    "command": "python -m pushpool_flow_runner",
    "env": {"LOG_LEVEL": "INFO", "PUSHPOOL_RUN_TOKEN": "run-token-secret"},
    "secret_env": {"DB_PASSWORD": "hunter2"},
    "labels": {"pushpool.io/work-pool": "azure"},
    "cpu": 1,
    "memory": 2,
    "keep_container_group": False,
}


class StaticToken:
    """A TokenCredential for tests: always the same bearer token, never a network call."""

    def __init__(self) -> None:
        self.requests = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.requests += 1
        return AccessToken("test-token", int(time.time()) + 3600)


class AllowPlainHttp(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Lets the bearer-token policy talk to the fake over http://127.0.0.1."""

    def on_request(self, request: Any) -> None:
        request.context["enforce_https"] = False


def client_kwargs(fake: FakeArm, **extra: Any) -> dict[str, Any]:
    return {"base_url": fake.url, "per_call_policies": [AllowPlainHttp()], **extra}


def aci_job(*, run_id: str | None = None, attempt: int = 1, **overrides: object) -> Job:
    return make_job(
        CONFIGURATION | overrides,
        run_id=run_id,
        attempt=attempt,
        pool_type="azure-container-instance:push",
    )


@pytest.fixture
def fake() -> Iterator[FakeArm]:
    with FakeArm() as server:
        yield server


@pytest.fixture
def credential() -> StaticToken:
    return StaticToken()


@pytest.fixture
def provider(fake: FakeArm, credential: StaticToken) -> Iterator[AciProvider]:
    provider = make_provider(credential=credential, client_kwargs=client_kwargs(fake))
    yield provider
    for client in provider._clients.values():
        client.close()


# -- submission --------------------------------------------------------------------------------


def test_the_group_is_named_for_run_and_attempt_and_created_with_restart_policy_never(
    fake: FakeArm, provider: AciProvider, credential: StaticToken
):
    job = aci_job(run_id="RUN_With.Odd--Chars" * 4, attempt=3)
    group_id = run(provider, job)

    sub, rg, name = parse_group_id(group_id)
    assert (sub, rg, name) == (SUBSCRIPTION, "flows-rg", dns_name(job.idempotency_key))
    assert len(name) <= 63 and "--" not in name
    put = fake.requests_to("PUT", r"/containerGroups/")[0]
    assert put.body["properties"]["restartPolicy"] == "Never"
    assert put.body["tags"][RUN_TAG] == job.run_id
    assert put.headers["Authorization"] == "Bearer test-token"
    assert credential.requests >= 1


def test_submit_reads_before_it_writes_and_never_puts_twice(fake: FakeArm, provider: AciProvider):
    job = aci_job()
    run(provider, job)
    run(provider, job)

    methods = [r.method for r in fake.state.requests]
    assert methods == ["GET", "PUT", "GET"]


def test_secrets_go_as_secure_values_and_are_never_echoed(fake: FakeArm, provider: AciProvider):
    group_id = run(provider, aci_job())

    sent = fake.requests_to("PUT", r"/containerGroups/")[0].body
    env = {
        e["name"]: e
        for e in sent["properties"]["containers"][0]["properties"]["environmentVariables"]
    }
    assert env["PUSHPOOL_RUN_TOKEN"] == {
        "name": "PUSHPOOL_RUN_TOKEN",
        "secureValue": "run-token-secret",
    }
    assert env["DB_PASSWORD"] == {"name": "DB_PASSWORD", "secureValue": "hunter2"}
    assert env["LOG_LEVEL"] == {"name": "LOG_LEVEL", "value": "INFO"}
    echoed = fake.requests_to("PUT", r"/containerGroups/")[0].response
    assert "hunter2" not in str(echoed) and "run-token-secret" not in str(echoed)
    assert group_id == echoed["id"]


def test_a_rejected_spec_is_terminal_with_arms_code_and_message(
    fake: FakeArm, provider: AciProvider
):
    fake.fail_requests(
        status=400,
        code="InaccessibleImage",
        message="The image 'acme.azurecr.io/flows:1.2' in container group is not accessible.",
        only=r"^PUT ",
    )

    with pytest.raises(InfrastructureError) as raised:
        run(provider, aci_job())
    assert raised.value.retryable is False
    assert "InaccessibleImage: The image 'acme.azurecr.io/flows:1.2'" in str(raised.value)


# -- throttling -------------------------------------------------------------------------------------


def test_throttling_is_retryable_and_says_when_to_retry(fake: FakeArm, provider: AciProvider):
    fake.fail_requests(status=429, code="TooManyRequests", message="slow down", retry_after=17)

    with pytest.raises(InfrastructureError) as raised:
        run(provider, aci_job())
    assert raised.value.retryable is True
    assert "retry after 17 s" in str(raised.value)


def test_with_sdk_retries_enabled_retry_after_is_honoured_and_the_submit_succeeds(
    fake: FakeArm, credential: StaticToken
):
    patient = make_provider(credential=credential, client_kwargs=client_kwargs(fake, retry_total=2))
    fake.fail_requests(
        status=429, code="TooManyRequests", message="slow down", retry_after=1, times=1
    )

    started = time.monotonic()
    group_id = run(patient, aci_job())

    assert time.monotonic() - started >= 1.0
    assert group_id in fake.state.groups
    assert [r.status for r in fake.state.requests][:2] == [429, 404]


# -- status and cleanup -----------------------------------------------------------------------------


def test_a_finished_group_is_deleted_and_its_outcome_still_reported(
    fake: FakeArm, provider: AciProvider
):
    group_id = run(provider, aci_job())
    fake.finish(group_id, 2)

    first = provider.status(group_id)
    again = provider.status(group_id)

    assert (first.phase, first.exit_code) == (InfraPhase.EXITED, 2)
    assert again == first
    assert fake.state.groups == {}
    assert fake.requests_to("DELETE", r"/containerGroups/")[0].status == 202


def test_keep_container_group_leaves_the_group(fake: FakeArm, provider: AciProvider):
    group_id = run(provider, aci_job(keep_container_group=True))
    fake.finish(group_id, 0)

    assert provider.status(group_id).phase is InfraPhase.EXITED
    assert group_id in fake.state.groups


def test_cancel_stops_the_group_and_reports_cancelled(fake: FakeArm, provider: AciProvider):
    group_id = run(provider, aci_job())
    fake.start(group_id)

    provider.cancel(group_id)

    assert fake.requests_to("POST", r"/stop$")
    assert provider.status(group_id).phase is InfraPhase.CANCELLED


# -- credentials ----------------------------------------------------------------------------------


def test_a_client_secret_signs_in_as_a_service_principal():
    provider = make_provider(tenant_id="t", client_id="c", client_secret="s")
    client = provider.client(SUBSCRIPTION)
    from azure.identity import ClientSecretCredential

    assert isinstance(client._config.credential, ClientSecretCredential)


def test_without_a_secret_the_managed_identity_signs_in():
    provider = make_provider(managed_identity_client_id="mi-client")
    from azure.identity import ManagedIdentityCredential

    assert isinstance(provider.client(SUBSCRIPTION)._config.credential, ManagedIdentityCredential)


def test_a_secret_without_tenant_and_client_ids_is_a_terminal_error():
    provider = make_provider(client_secret="s")
    with pytest.raises(InfrastructureError) as raised:
        provider.client(SUBSCRIPTION)
    assert raised.value.retryable is False


def test_making_the_provider_creates_no_client_and_no_credential():
    provider = make_provider(tenant_id="t", client_id="c", client_secret="s")
    assert provider._clients == {} and provider._credential is None


def test_the_stack_secret_supplies_the_service_principal():
    secret = '{"tenant_id": "t", "client_id": "c", "client_secret": "s"}'
    client = make_provider(secret=secret).client(SUBSCRIPTION)
    from azure.identity import ClientSecretCredential

    assert isinstance(client._config.credential, ClientSecretCredential)
    assert client._config.credential._client_id == "c"


@pytest.mark.parametrize("secret", ["not json", "[]"])
def test_a_malformed_azure_secret_is_a_terminal_error(secret: str):
    with pytest.raises(InfrastructureError) as raised:
        make_provider(secret=secret)
    assert raised.value.retryable is False
