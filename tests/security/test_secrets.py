"""Secrets stay secret: not in logs, error messages, API answers or rendered templates.

The secrets pushpool holds: admin and worker bearer tokens, each run's
token (injected into its job as ``PUSHPOOL_RUN_TOKEN``), the key that signs
run tokens (with the seed admin token, an SSM SecureString parameter), and
the cloud credentials read from Secrets Manager.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from core.errors import InfrastructureError
from core.ports import Job
from core.services.dispatch import Dispatcher, DispatchIncomplete
from handlers.aws.families import Family
from handlers.aws.settings import AwsSettings
from handlers.bootstrap import Settings, bootstrap
from providers.registry import REGISTRY
from tests.bench.recording import RecordingProvider
from tests.contract.backends import use_moto_environment
from tests.fuzz.live import SIGNING_KEY, LiveApi, live_api
from tests.security.test_tokens import Recorder


class EchoingProvider:
    """Refuses every job quoting the request it got, as a Kubernetes or Docker
    validation error can quote a container's environment."""

    emits_events = False
    supports_polling = True

    def __init__(self, *, retryable: bool) -> None:
        self.retryable = retryable

    def build_request(self, job: Job) -> dict[str, Any]:
        return {"env": job.configuration["env"]}

    def submit(self, request: dict[str, Any], *, idempotency_key: str) -> str:
        raise InfrastructureError(
            f"invalid request {json.dumps(request)}", retryable=self.retryable
        )

    def status(self, infra_id: str) -> Any:
        raise NotImplementedError

    def cancel(self, infra_id: str) -> None:
        return None


@pytest.fixture
def live() -> Iterator[LiveApi]:
    with live_api("sqlite") as api:
        yield api


@pytest.fixture
def recorded() -> Iterator[Recorder]:
    recorder = Recorder()
    root = logging.getLogger()
    level = root.level
    root.addHandler(recorder)
    root.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        root.removeHandler(recorder)
        root.setLevel(level)


def make_run(live: LiveApi, pool: str = "secretive", **deployment: Any) -> str:
    """A run of a deployment on a push pool (dispatched by ``dispatcher`` below)."""
    http = live.client(live.admin)
    http.post("/work_pools/", json={"name": pool, "type": "ecs:push"})
    flow = http.post("/flows/", json={"name": "flow"}).json()
    body = {"name": f"{pool}-dep", "flow_id": flow["id"], "work_pool_name": pool, **deployment}
    deployment = http.post("/deployments/", json=body).json()
    run = http.post(
        f"/deployments/{deployment['id']}/create_flow_run", json={"state": {"type": "SCHEDULED"}}
    ).json()
    return str(run["id"])


def dispatcher(live: LiveApi, provider: Any) -> Dispatcher:
    return Dispatcher(
        store=live.store,
        clock=live.container.clock,
        pool_types=REGISTRY,
        provider_for=lambda pool: provider,
        run_token=lambda run: live.run_token(run.id),
        api_url=live.url,
    )


def everything_the_api_shows(live: LiveApi, run_id: str) -> str:
    http = live.client(live.admin)
    answers = [
        http.get(f"/flow_runs/{run_id}"),
        http.post("/flow_runs/filter", json={}),
        http.post("/work_pools/secretive/preview", json={}),
        http.post("/work_pools/secretive/get_scheduled_flow_runs", json={}),
        http.post("/work_pools/secretive/concurrency_status", json={}),
        http.get("/work_pools/secretive"),
        http.post("/deployments/filter", json={}),
        http.get("/flow_run_states/", params={"flow_run_id": run_id}),
        http.get(f"/flow_runs/{run_id}/job_configuration"),
    ]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return "\n".join(a.text for a in answers)


def test_a_refusal_that_quotes_the_job_does_not_leak_the_run_token(
    live: LiveApi, recorded: Recorder
) -> None:
    run_id = make_run(live)
    token = live.run_token(run_id)

    dispatcher(live, EchoingProvider(retryable=False)).dispatch("secretive")

    crashed = live.client(live.admin).get(f"/flow_runs/{run_id}").json()
    assert crashed["state_type"] == "CRASHED"
    assert "PUSHPOOL_FLOW_RUN_ID" in crashed["state"]["message"]  # the echo is kept...
    assert "[run token]" in crashed["state"]["message"]  # ...without the token
    assert token not in everything_the_api_shows(live, run_id)
    assert not [line for line in recorded.lines if token in line]


def test_a_retryable_refusal_that_quotes_the_job_does_not_leak_the_run_token(
    live: LiveApi,
) -> None:
    run_id = make_run(live)
    token = live.run_token(run_id)

    with pytest.raises(DispatchIncomplete) as raised:
        dispatcher(live, EchoingProvider(retryable=True)).dispatch("secretive")

    assert token not in str(raised.value)
    assert all(token not in failure.message for failure in raised.value.report.retry)


def test_api_answers_about_a_submitted_run_hold_no_token_or_key(live: LiveApi) -> None:
    run_id = make_run(live)
    provider = RecordingProvider(hold=3600)
    report = dispatcher(live, provider).dispatch("secretive")
    assert [s.run_id for s in report.submitted] == [run_id]

    shown = everything_the_api_shows(live, run_id)

    assert live.run_token(run_id) not in shown
    assert live.admin.removeprefix("pp_") not in shown
    assert SIGNING_KEY.decode() not in shown


def test_the_rendered_job_configuration_the_api_shows_masks_secrets(live: LiveApi) -> None:
    env = {"DB_PASSWORD": "hunter2-db", "GITHUB_TOKEN": "ghp-abc", "PLAIN": "visible"}
    run_id = make_run(live, job_variables={"env": env})
    dispatcher(live, RecordingProvider(hold=3600)).dispatch("secretive")

    shown = live.client(live.admin).get(f"/flow_runs/{run_id}/job_configuration").json()

    rendered = json.dumps(shown["job_configuration"])
    assert "hunter2-db" not in rendered
    assert "ghp-abc" not in rendered
    assert "visible" in rendered
    assert live.run_token(run_id) not in rendered
    assert SIGNING_KEY.decode() not in rendered
    assert {"env.DB_PASSWORD", "env.GITHUB_TOKEN", "env.PUSHPOOL_RUN_TOKEN"} <= set(shown["masked"])


def test_secrets_are_masked_by_value_shape_and_by_more_names(live: LiveApi) -> None:
    """By name only, these were shown in the clear (issue 14)."""
    by_name = {
        "DATABASE_URL": "sqlite:///plain-looking-but-named.db",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/named",
        "JWT": "jwt-by-name",
        "BEARER": "bearer-by-name",
        "HMAC": "hmac-by-name",
    }
    by_shape = {
        "PRIMARY": "postgresql://admin:hunter2-shape@db.internal:5432/app",
        "CLONE_FROM": "https://ghp_0123456789abcdefABCD@github.com/org/repo.git",
        "HEADER": "Bearer abcdefghijk-shape",
        "ID_TOKEN": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaGFwZSJ9.c2lnbmF0dXJlLXNoYXBl",
        "UPSTREAM": "AKIAIOSFODNN7EXAMPLE",
        "OPAQUE": "Zk3vR9qLw2Xp8Ty6Nc4Bm1Hd7Gf5Js0Kshape",
    }
    shown_plain = {"IMAGE": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1-shown",
                   "RUN_ID": "0b5c3f7e-3c1a-4b43-9d51-7075736870a1", "SITE": "https://example.com/shown"}  # fmt: skip
    run_id = make_run(live, job_variables={"env": {**by_name, **by_shape, **shown_plain}})
    dispatcher(live, RecordingProvider(hold=3600)).dispatch("secretive")

    shown = live.client(live.admin).get(f"/flow_runs/{run_id}/job_configuration").json()

    rendered = json.dumps(shown["job_configuration"])
    for secret in [*by_name.values(), *by_shape.values()]:
        assert secret not in rendered
    for value in shown_plain.values():
        assert value in rendered
    assert {f"env.{name}" for name in [*by_name, *by_shape]} <= set(shown["masked"])


def test_render_template_shows_only_what_the_template_renders() -> None:
    from handlers.cli.main import app

    result = CliRunner().invoke(
        app, ["work-pool", "render-template", "--type", "process", "--job-variables", "{}"]
    )
    assert result.exit_code == 0, result.output
    rendered = json.loads(result.output)
    assert "PUSHPOOL_RUN_TOKEN" not in json.dumps(rendered)


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_moto_environment(monkeypatch, endpoint=None)
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_secret_values_from_ssm_and_secrets_manager_are_never_logged(
    secrets_manager: Any, recorded: Recorder
) -> None:
    modal = json.dumps({"token_id": "ak-secret-id", "token_secret": "as-secret-value"})
    secrets_manager.create_secret(Name="modal-token", SecretString=modal)
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/pushpool/s/admin-token", Value="A" * 48, Type="SecureString")
    settings = Settings(
        store_url="sqlite://",
        aws=AwsSettings(
            admin_token_parameter="/pushpool/s/admin-token",
            run_token_key_parameter="/pushpool/s/run-token-key",  # absent: generated
            credential_secrets={Family.MODAL: "modal-token"},
        ),
    )
    container = bootstrap(settings=settings)

    container.seed_admin_token()
    container.run_token("some-run")
    with contextlib.suppress(Exception):  # without the Modal SDK; the secret is read first
        container.provider("modal:push")

    key = ssm.get_parameter(Name="/pushpool/s/run-token-key", WithDecryption=True)
    assert container.signing_key == key["Parameter"]["Value"].encode()
    ours = [line for line in recorded.lines if not line.startswith(("botocore", "urllib3"))]
    for value in ("A" * 48, key["Parameter"]["Value"], "ak-secret-id", "as-secret-value"):
        assert not [line for line in ours if value in line], f"a secret value was logged: {value}"
