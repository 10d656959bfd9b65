"""Google Vertex AI custom jobs as infrastructure for hybrid (worker) pools.

One flow-run attempt is one Vertex AI *custom job* running the flow's
container in one worker pool.  The job carries the run id and attempt as
labels, which is how a repeated or concurrent submit finds it instead of
starting the flow twice (see ``provider``).  Vertex AI sends no events: the
worker polls ``status``, which reads the job's state and, on failure, the
container's exit status from the job's error.  Finished custom jobs are
kept by Vertex AI (they cost nothing) and are not deleted.

Modules: ``request`` (the pure ``build_request``: the ``CustomJob``),
``provider`` (``VertexAIProvider`` and its per-region clients), ``status``
(a custom job -> ``InfraStatus``), ``errors`` (API errors ->
``InfrastructureError``) and ``sdk`` (the SDK, imported by ``make_provider``
and never at import time).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError
from providers.vertex_ai.provider import VertexAIClients, VertexAIProvider
from providers.vertex_ai.request import VertexAIRequest, build_request
from providers.vertex_ai.sdk import sdk

__all__ = ["VertexAIProvider", "VertexAIRequest", "build_request", "make_provider"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def make_provider(
    *,
    secret: str | None = None,
    credentials: Any = None,
    client_options: Mapping[str, Any] | None = None,
    transport: str = "rest",
    clients: VertexAIClients | None = None,
    **options: Any,
) -> VertexAIProvider:
    """Build the provider; the registry calls this.

    ``secret`` is the GCP family's credentials value, a service-account key
    as JSON text; without it and without ``credentials`` the client uses
    Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the
    metadata server).  The key's ``project_id`` is the default project.
    ``options``: ``request_timeout``, ``default_project``.
    """
    sdk()  # a missing ``pushpool[gcp]`` extra shows when the registry loads the provider
    if clients is None:
        if credentials is None and secret:
            try:
                info = json.loads(secret)
            except ValueError as exc:
                raise InfrastructureError(
                    "the Vertex AI service-account key is not valid JSON", retryable=False
                ) from exc
            credentials = sdk().service_account.Credentials.from_service_account_info(
                info, scopes=list(SCOPES)
            )
            options.setdefault("default_project", info.get("project_id"))
        clients = VertexAIClients(
            credentials=credentials, client_options=client_options, transport=transport
        )
    return VertexAIProvider(clients, **options)
