"""Modal: function calls and sandboxes, against the fake at the client seam."""

from __future__ import annotations

import json

import pytest

from core.errors import InfrastructureError
from core.ports import InfraPhase, Job
from providers.modal import ModalProvider, make_provider
from providers.modal.request import FunctionRequest, Resources, SandboxRequest
from providers.modal.status import CANCELLED_TAG
from providers.shared import dns_name
from tests.fakes.modal_client import FakeModal
from tests.providers.contract import make_job, run

FUNCTION = {
    "app_name": "flows",
    "function_name": "run_flow",
    "env": {"PUSHPOOL_PARAMETERS": json.dumps({"day": "2026-01-05"}), "LOG_LEVEL": "INFO"},
    "cpu": 2,
    "memory": 2048,
    "gpu": "T4",
    "timeout": 3600,
    "secrets": ["warehouse"],
}
SANDBOX = {
    "image": "ghcr.io/acme/flows:1.2",
    "command": "python -m pushpool_flow_runner",
    "env": {"LOG_LEVEL": "INFO"},
    "memory": 1024,
}


def modal_job(
    configuration: dict[str, object], *, run_id: str | None = None, attempt: int = 1
) -> Job:
    return make_job(configuration, run_id=run_id, attempt=attempt, pool_type="modal:push")


@pytest.fixture
def fake() -> FakeModal:
    modal = FakeModal()
    modal.deploy("flows", "run_flow")
    return modal


@pytest.fixture
def provider(fake: FakeModal) -> ModalProvider:
    return make_provider(client=fake)


# -- build_request ---------------------------------------------------------------------------


def test_a_function_request_carries_parameters_env_and_resources():
    request = make_provider(client=FakeModal()).build_request(modal_job(FUNCTION))

    assert request == FunctionRequest(
        app_name="flows",
        function_name="run_flow",
        environment_name=None,
        parameters={"day": "2026-01-05"},
        env={"LOG_LEVEL": "INFO", "PUSHPOOL_PARAMETERS": '{"day": "2026-01-05"}'},
        resources=Resources(cpu=2.0, memory=2048, gpu="T4", timeout=3600, secrets=("warehouse",)),
    )


def test_an_image_makes_a_sandbox_request_tagged_with_run_and_attempt():
    job = modal_job(SANDBOX, run_id="r-1", attempt=2)
    request = make_provider(client=FakeModal()).build_request(job)

    assert isinstance(request, SandboxRequest)
    assert request.command == ("python", "-m", "pushpool_flow_runner")
    assert request.tags == {"pushpool-run-id": "r-1", "pushpool-attempt": "2"}
    assert request.resources == Resources(memory=1024)


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        ({"app_name": "flows"}, "function_name"),
        ({"image": "python:3.12"}, "command"),
        ({**FUNCTION, "env": {"PUSHPOOL_PARAMETERS": "[not json"}}, "PUSHPOOL_PARAMETERS"),
    ],
)
def test_an_unusable_configuration_is_a_terminal_error(
    configuration: dict[str, object], message: str
):
    with pytest.raises(InfrastructureError) as raised:
        make_provider(client=FakeModal()).build_request(modal_job(configuration))
    assert raised.value.retryable is False
    assert message in str(raised.value)


# -- function calls ----------------------------------------------------------------------------


def test_spawn_passes_the_runs_parameters_and_env_to_the_deployed_function(
    fake: FakeModal, provider: ModalProvider
):
    call_id = run(provider, modal_job(FUNCTION))

    sent = fake.calls[call_id].request
    assert sent.parameters == {"day": "2026-01-05"}
    assert sent.env["LOG_LEVEL"] == "INFO"
    assert sent.resources.secrets == ("warehouse",)


def test_the_call_id_is_recorded_under_the_idempotency_key(
    fake: FakeModal, provider: ModalProvider
):
    job = modal_job(FUNCTION)
    call_id = run(provider, job)

    assert fake.registry == {job.idempotency_key: call_id}
    assert (
        make_provider(client=fake).submit(
            provider.build_request(job), idempotency_key=job.idempotency_key
        )
        == call_id
    )  # a second dispatcher process finds it too


def test_of_two_racing_submits_the_loser_cancels_its_own_call(fake: FakeModal):
    job = modal_job(FUNCTION)

    class Racing(FakeModal):
        def spawn(self, request: FunctionRequest) -> str:
            mine = super().spawn(request)
            if job.idempotency_key not in self.registry:  # the other dispatcher records first
                self.registry[job.idempotency_key] = super().spawn(request)
            return mine

    racing = Racing(deployed=fake.deployed)
    winner = run(make_provider(client=racing), job)

    assert racing.registry[job.idempotency_key] == winner
    statuses = {c.call_id: c.status for c in racing.calls.values()}
    assert statuses[winner] == "pending"
    assert sorted(statuses.values()) == ["pending", "terminated"]


def test_a_call_that_cannot_be_recorded_is_cancelled_and_the_error_is_retryable(
    fake: FakeModal, provider: ModalProvider
):
    fake.fail_requests(
        retryable=True, message="registry unavailable", only=frozenset({"record_call"})
    )

    with pytest.raises(InfrastructureError) as raised:
        run(provider, modal_job(FUNCTION))

    assert raised.value.retryable is True
    assert [c.status for c in fake.calls.values()] == ["terminated"]


def test_spawning_a_function_that_is_not_deployed_is_terminal(provider: ModalProvider):
    with pytest.raises(InfrastructureError) as raised:
        run(provider, modal_job({**FUNCTION, "function_name": "missing"}))
    assert raised.value.retryable is False
    assert "has not been deployed" in str(raised.value)


def test_a_function_that_raises_exits_with_code_one_and_the_exception(
    fake: FakeModal, provider: ModalProvider
):
    call_id = run(provider, modal_job(FUNCTION))
    fake.raise_in(call_id, "ValueError: bad day")

    status = provider.status(call_id)
    assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 1)
    assert "ValueError: bad day" in status.reason


def test_a_function_that_returns_nothing_counts_as_exit_zero(
    fake: FakeModal, provider: ModalProvider
):
    call_id = run(provider, modal_job(FUNCTION))
    fake.calls[call_id].status = "success"

    assert provider.status(call_id).exit_code == 0


def test_a_timed_out_call_is_crashed(fake: FakeModal, provider: ModalProvider):
    call_id = run(provider, modal_job(FUNCTION))
    fake.calls[call_id].status = "timeout"

    assert provider.status(call_id).phase is InfraPhase.CRASHED


# -- sandboxes ------------------------------------------------------------------------------------


def test_a_sandbox_is_named_for_run_and_attempt_and_found_again_after_it_finished(
    fake: FakeModal, provider: ModalProvider
):
    job = modal_job(SANDBOX)
    sandbox_id = run(provider, job)
    fake.finish(sandbox_id, 0)

    assert fake.sandboxes[sandbox_id].name == dns_name(job.idempotency_key)
    assert run(provider, job) == sandbox_id
    assert len(fake.sandboxes) == 1


def test_a_sandbox_killed_outside_pushpool_is_crashed_and_a_timeout_too(
    fake: FakeModal, provider: ModalProvider
):
    killed = run(provider, modal_job(SANDBOX))
    timed_out = run(provider, modal_job(SANDBOX))
    fake.finish(killed, 137)
    fake.finish(timed_out, 124)

    assert provider.status(killed).phase is InfraPhase.CRASHED
    assert "timeout" in provider.status(timed_out).reason


def test_cancelling_a_finished_sandbox_leaves_its_outcome(fake: FakeModal, provider: ModalProvider):
    sandbox_id = run(provider, modal_job(SANDBOX))
    fake.finish(sandbox_id, 2)

    provider.cancel(sandbox_id)

    assert CANCELLED_TAG not in fake.sandboxes[sandbox_id].tags
    assert provider.status(sandbox_id).exit_code == 2
