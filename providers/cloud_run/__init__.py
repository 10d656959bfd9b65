"""Google Cloud Run jobs (Admin API v2) as infrastructure for push and hybrid pools.

One flow-run attempt is one Cloud Run *job* whose id is derived from
``(run id, attempt)``, and one *execution* of it.  Creating a job that
exists answers 409, so a repeated submit finds the job instead of making a
second; before running it, the executions already labelled with the run and
attempt are looked up and reused, so a retried dispatch does not start the
flow twice.  Cloud Run sends no events to AWS: the tick polls ``status``,
which reads the execution's conditions and, on failure, its tasks' exit
codes.  The job is deleted once its execution is terminal unless the pool
sets ``keep_job``.

Modules: ``request`` (the pure ``build_request``: the job body),
``provider`` (``CloudRunProvider`` and its clients), ``status`` (an
execution -> ``InfraStatus``), ``errors`` (API errors ->
``InfrastructureError``), ``logs`` (Cloud Logging entries) and ``sdk`` (the
SDK, imported by ``make_provider`` and never at import time, so dispatching
to another provider never loads it, design §1).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.errors import InfrastructureError
from providers.cloud_run.provider import CloudRunClients, CloudRunProvider
from providers.cloud_run.request import CloudRunRequest, build_request
from providers.cloud_run.sdk import sdk

__all__ = ["CloudRunProvider", "CloudRunRequest", "build_request", "make_provider"]

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def make_provider(
    *,
    secret: str | None = None,
    credentials: Any = None,
    client_options: Mapping[str, Any] | None = None,
    transport: str = "rest",
    clients: CloudRunClients | None = None,
    **options: Any,
) -> CloudRunProvider:
    """Build the provider; the registry calls this.

    ``secret`` is the provider
    family's Secrets Manager value, a service-account key as JSON text; the
    caller reads it.  Without it and without ``credentials``, the clients use
    Application Default Credentials.  The SDK is imported here, so a missing
    ``pushpool[gcp]`` extra shows when the registry loads the provider.  ``options`` are the
    provider's timeouts (``request_timeout``, ``create_timeout``,
    ``poll_interval``) and ``default_project`` for configurations that name
    none (a Prefect template takes its project from its credentials block;
    here the key's ``project_id`` is the default).
    """
    sdk()
    if clients is None:
        if credentials is None and secret:
            service_account = sdk().service_account
            try:
                info = json.loads(secret)
            except ValueError as exc:
                raise InfrastructureError(
                    "the Cloud Run service-account key is not valid JSON", retryable=False
                ) from exc
            credentials = service_account.Credentials.from_service_account_info(
                info, scopes=list(SCOPES)
            )
            options.setdefault("default_project", info.get("project_id"))
        clients = CloudRunClients(
            credentials=credentials, client_options=client_options, transport=transport
        )
    return CloudRunProvider(clients, **options)
