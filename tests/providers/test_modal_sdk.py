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

from providers.modal import ModalClient, ModalError, SdkModalClient, make_provider, sdk_errors
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


def test_building_the_provider_imports_and_opens_nothing():
    provider = make_provider(token_id="ak-1", token_secret="as-1")
    adapter = provider.client

    assert isinstance(adapter, SdkModalClient)
    # Client.from_credentials connects at once, so the client is made on first use only.
    assert {"modal", "sdk_client", "_registry"}.isdisjoint(vars(adapter))


def test_both_the_adapter_and_the_fake_satisfy_the_seam():
    assert isinstance(SdkModalClient(), ModalClient)
    assert isinstance(FakeModal(), ModalClient)
