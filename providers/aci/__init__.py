"""Azure Container Instances as infrastructure for push and hybrid pools.

One flow-run attempt is one container group whose name is derived from
``(run id, attempt)``.  ARM's PUT is an upsert, not a create, so ``submit``
first GETs the group and returns it if a previous submit already made it;
only a miss leads to ``begin_create_or_update`` (restart policy Never, so the
flow runs once).  ACI sends no events to AWS: the tick polls ``status``,
which reads the group's instance view (container state and exit code).  The
group is deleted once terminal unless the pool sets ``keep_container_group``;
cancelling stops the group.

Modules: ``request`` (the pure ``build_request``: a ``ContainerGroup``
model), ``provider`` (``AciProvider``), ``status`` (an instance view ->
``InfraStatus``), ``errors`` (SDK errors -> ``InfrastructureError``),
``logs`` (the container's output) and ``sdk`` (the Azure SDK, imported by
``make_provider`` and never at import time, so dispatching to another
provider never loads it, design §1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError
from providers.aci.provider import AciProvider
from providers.aci.request import AciRequest, build_request
from providers.aci.sdk import sdk

__all__ = ["AciProvider", "AciRequest", "build_request", "make_provider"]


def _secret_values(secret: str | None, keys: tuple[str, ...], *, what: str) -> dict[str, str]:
    if not secret:
        return {}
    try:
        values = json.loads(secret)
    except ValueError as exc:
        raise InfrastructureError(
            f"the {what} credentials secret is not JSON", retryable=False
        ) from exc
    if not isinstance(values, dict):
        raise InfrastructureError(
            f"the {what} credentials secret is not a JSON object", retryable=False
        )
    return {k: str(values[k]) for k in keys if values.get(k)}


def make_provider(
    *,
    secret: str | None = None,
    credential: Any = None,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    managed_identity_client_id: str | None = None,
    client_kwargs: Mapping[str, Any] | None = None,
) -> AciProvider:
    """Build the provider; the registry calls this.

    With ``client_secret`` (the caller reads it from Secrets Manager), a
    service principal signs in; without it, the function's managed identity
    does (``managed_identity_client_id`` picks a user-assigned one).  The
    credential is created when the first client is.  ``secret`` is the
    provider family's Secrets Manager value, JSON with ``tenant_id``,
    ``client_id`` and ``client_secret`` (or ``managed_identity_client_id``);
    its keys fill the arguments not given.  ``client_kwargs`` go to
    ``ContainerInstanceManagementClient`` (``base_url``, retry settings).
    The SDK is imported here, so a missing ``pushpool[azure]`` extra shows
    when the registry loads the provider.
    """
    sdk()
    values = _secret_values(
        secret,
        ("tenant_id", "client_id", "client_secret", "managed_identity_client_id"),
        what="Azure",
    )
    tenant_id = tenant_id or values.get("tenant_id")
    client_id = client_id or values.get("client_id")
    client_secret = client_secret or values.get("client_secret")
    managed_identity_client_id = managed_identity_client_id or values.get(
        "managed_identity_client_id"
    )

    def factory() -> Any:
        identity = sdk().identity
        if client_secret:
            if not tenant_id or not client_id:
                raise InfrastructureError(
                    "an Azure client secret needs tenant_id and client_id", retryable=False
                )
            return identity.ClientSecretCredential(tenant_id, client_id, client_secret)
        return identity.ManagedIdentityCredential(client_id=managed_identity_client_id)

    return AciProvider(
        credential=credential, credential_factory=factory, client_kwargs=client_kwargs
    )
