"""The SDK side of the Modal seam, checked without a network.

``SdkModalClient`` cannot be run against Modal here, so these tests pin what
it relies on: the installed SDK still has every call and keyword it uses
(an upgrade that renames one fails here, not in production), its errors are
classified from the SDK's real exception classes, and building the provider
opens nothing.
"""

from __future__ import annotations

import inspect

import modal
import pytest
from modal._logs_manager import FunctionCallLogsManager, SandboxLogsManager

from core.errors import InfrastructureError
from providers.modal import make_provider
from providers.modal.errors import ModalError
from providers.modal.sdk_client import SdkModalClient, sdk_errors
from providers.modal.seam import ModalClient
from tests.fakes.modal_client import FakeModal

USED = {
    (modal.Function, "from_name"): {"app_name", "name", "environment_name", "client"},
    (modal.Function, "with_options"): {"cpu", "memory", "gpu", "timeout", "secrets"},
    (modal.FunctionCall, "from_id"): {"function_call_id", "client"},
    (modal.FunctionCall, "get"): {"timeout"},
    (modal.FunctionCall, "cancel"): {"terminate_containers"},
    (modal.FunctionCall, "get_call_graph"): set(),
    (modal.Sandbox, "create"): {
        "app",
        "name",
        "image",
        "env",
        "secrets",
        "timeout",
        "cpu",
        "memory",
        "gpu",
        "workdir",
        "tags",
        "client",
    },
    (modal.Sandbox, "from_name"): {
        "app_name",
        "name",
        "environment_name",
        "include_terminated",
        "client",
    },
    (modal.Sandbox, "from_id"): {"sandbox_id", "client"},
    (modal.Sandbox, "poll"): set(),
    (modal.Sandbox, "terminate"): set(),
    (modal.Sandbox, "get_tags"): set(),
    (modal.Sandbox, "set_tags"): {"tags"},
    (modal.App, "lookup"): {"name", "environment_name", "create_if_missing", "client"},
    (modal.Dict, "from_name"): {"name", "environment_name", "create_if_missing", "client"},
    (modal.Dict, "put"): {"key", "value", "skip_if_exists"},
    (modal.Dict, "get"): {"key"},
    (modal.Client, "from_credentials"): {"token_id", "token_secret"},
    (modal.Secret, "from_name"): {"name", "environment_name"},
    (modal.Image, "from_registry"): {"tag"},
    (FunctionCallLogsManager, "fetch"): {"since", "until"},
    (SandboxLogsManager, "fetch"): {"since", "until"},
}


@pytest.mark.parametrize(
    ("owner", "method"), list(USED), ids=[f"{o.__name__}.{m}" for o, m in USED]
)
def test_the_installed_sdk_has_every_call_and_keyword_the_adapter_uses(owner: type, method: str):
    parameters = set(inspect.signature(getattr(owner, method)).parameters)
    assert USED[(owner, method)] <= parameters


@pytest.mark.parametrize(
    ("raised", "retryable", "not_found"),
    [
        (modal.exception.NotFoundError("App 'flows' not found"), False, True),
        (modal.exception.ConnectionError("connection reset"), True, False),
        (modal.exception.InternalFailure("try again"), True, False),
        (modal.exception.ResourceExhaustedError("rate limited"), True, False),
        (ConnectionResetError("peer reset"), True, False),
        (modal.exception.AuthError("Token ID is malformed"), False, False),
        (modal.exception.InvalidError("gpu 'Z9' is not a GPU"), False, False),
        (modal.exception.PermissionDeniedError("not a member"), False, False),
    ],
)
def test_sdk_exceptions_are_classified(raised: Exception, retryable: bool, not_found: bool):
    with pytest.raises(ModalError) as translated, sdk_errors(modal):
        raise raised
    assert (translated.value.retryable, translated.value.not_found) == (retryable, not_found)
    assert str(raised) in str(translated.value)


def test_building_the_provider_imports_the_sdk_but_opens_nothing():
    provider = make_provider(secret='{"token_id": "ak-1", "token_secret": "as-1"}')
    adapter = provider.client

    assert isinstance(adapter, SdkModalClient)
    assert adapter.modal is modal
    assert adapter._token == ("ak-1", "as-1")
    # Client.from_credentials connects at once, so the client is made on first use only.
    assert {"sdk_client", "_registry"}.isdisjoint(vars(adapter))


@pytest.mark.parametrize("secret", ["not json", '{"token_id": "ak-1"}', "[1]"])
def test_a_malformed_modal_secret_is_a_terminal_error(secret: str):
    with pytest.raises(InfrastructureError) as raised:
        make_provider(secret=secret)
    assert raised.value.retryable is False


def test_both_the_adapter_and_the_fake_satisfy_the_seam():
    assert isinstance(SdkModalClient(), ModalClient)
    assert isinstance(FakeModal(), ModalClient)


class StubCall:
    """Stands in for ``modal.FunctionCall``: answers ``get`` with a value or raises."""

    def __init__(self, outcome: object) -> None:
        self.outcome = outcome

    def get(self, timeout: float | None = None) -> object:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.mark.parametrize(
    ("outcome", "finished_as", "status"),
    [
        (3, "", "success"),
        (TimeoutError(), "", "running"),  # what modal 1.x raises for an unfinished call
        (modal.exception.FunctionTimeoutError("limit"), "", "timeout"),
        (modal.exception.OutputExpiredError(), "", "success"),
        (modal.exception.InputCancellation(), "", "terminated"),
        (ValueError("bad day"), "failure", "failure"),
        (TimeoutError("the flow's own"), "failure", "failure"),
        (ImportError("no flows"), "init_failure", "init_failure"),
    ],
)
def test_a_calls_output_is_read_without_waiting(outcome: object, finished_as: str, status: str):
    state = SdkModalClient()._poll_output(StubCall(outcome), running=True, finished_as=finished_as)
    assert state.status == status


def test_modal_failing_while_reading_output_is_an_error_not_a_flow_failure():
    with pytest.raises(ModalError) as raised:
        SdkModalClient()._poll_output(
            StubCall(modal.exception.ConnectionError("reset")), running=True
        )
    assert raised.value.retryable is True
