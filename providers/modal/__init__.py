"""Modal as infrastructure for ``modal:push`` pools.

Two shapes of work.  With ``app_name`` and ``function_name``, one flow-run
attempt is one *function call* of a deployed Modal function, spawned with
``parameters=`` the run's parameters and ``env=`` the injected environment
(the deployed entry function applies the env and returns the flow's exit
code).  With ``image``, it is one *Sandbox* running ``command`` in that
image.  The call or sandbox id is the infrastructure id.

Modal's ``spawn`` takes no idempotency key.  Calls are therefore recorded
in a Modal Dict under the ``(run id, attempt)`` key with put-if-absent: a
repeated submit returns the recorded call, and of two racing submits the
loser cancels its own call.  Sandboxes get a deterministic name, unique in
their app, and are looked up by it (terminated ones included) before one is
created.  docs/providers.md states what can still duplicate.

Everything that talks to Modal sits behind ``ModalClient``, a small Protocol
(``seam``); ``sdk_client.SdkModalClient`` implements it with the ``modal``
SDK (imported by ``make_provider``, never at import time), and tests inject
``tests/fakes/modal_client.py`` — the only place a hand-written fake
replaces the network (design §8).

Modules: ``request`` (the pure ``build_request``), ``provider``
(``ModalProvider``), ``status`` (call and sandbox states -> ``InfraStatus``),
``errors`` (``ModalError`` -> ``InfrastructureError``), ``seam``,
``sdk_client`` and ``logs``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from core.errors import InfrastructureError
from providers.modal.provider import ModalProvider
from providers.modal.request import ModalRequest, build_request
from providers.modal.sdk_client import SdkModalClient
from providers.modal.seam import ModalClient

__all__ = ["ModalProvider", "ModalRequest", "build_request", "make_provider"]


def make_provider(
    *,
    secret: str | None = None,
    token_id: str | None = None,
    token_secret: str | None = None,
    client: ModalClient | None = None,
    registry_name: str = "pushpool-calls",
    registry_environment: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ModalProvider:
    """Build the provider; the registry calls this.

    ``token_id``/``token_secret`` come from Secrets Manager through the
    caller; without them Modal's own configuration (``MODAL_TOKEN_ID``...) is
    used.  ``secret`` is the provider family's Secrets Manager value, JSON
    with ``token_id`` and ``token_secret``.  ``client`` replaces the SDK
    adapter (tests pass the fake); otherwise the SDK is imported here, so a
    missing ``pushpool[modal]`` extra shows when the registry loads the
    provider — but no connection is opened until the first call.
    """
    if client is None:
        if secret:
            try:
                values = json.loads(secret)
                token_id = token_id or values["token_id"]
                token_secret = token_secret or values["token_secret"]
            except (ValueError, TypeError, KeyError) as exc:
                raise InfrastructureError(
                    "the Modal secret must be JSON with token_id and token_secret",
                    retryable=False,
                ) from exc
        adapter = SdkModalClient(
            token_id=token_id,
            token_secret=token_secret,
            registry_name=registry_name,
            registry_environment=registry_environment,
        )
        adapter.modal  # noqa: B018 - import the SDK now, connect later
        client = adapter
    return ModalProvider(client, clock=clock)
