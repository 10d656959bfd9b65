"""Azure Container Instances as infrastructure for push and hybrid pools.

One flow-run attempt is one container group whose name is derived from
``(run id, attempt)``.  ARM's PUT is an upsert, not a create, so ``submit``
first GETs the group and returns it if a previous submit already made it;
only a miss leads to ``begin_create_or_update`` (restart policy Never, so the
flow runs once).  ACI sends no events to AWS: the tick polls ``status``,
which reads the group's instance view (container state and exit code).  The
group is deleted once terminal unless the pool sets ``keep_container_group``;
cancelling stops the group.

The Azure SDK is imported by ``make_provider`` (``sdk.py``), never at import
time, so dispatching to another provider never loads it (design §1);
``status.py`` maps an instance view to ``InfraStatus``.  Only this
``__init__`` imports ``providers.shared``: the independence contract in
pyproject.toml allows ``providers.* -> providers.shared`` for the package,
not its submodules.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.aci.logs import read_output
from providers.aci.sdk import error_message, sdk
from providers.aci.status import status_of
from providers.shared import (
    TerminalMemo,
    command_list,
    dns_name,
    flag,
    retryable_http_status,
    string_map,
)

log = logging.getLogger(__name__)

RUN_TAG = "pushpool-run-id"
ATTEMPT_TAG = "pushpool-attempt"
KEEP_TAG = "pushpool-keep-container-group"
# Env names sent as secureValue even when the template lists them under ``env``.
ALWAYS_SECRET = frozenset({"PUSHPOOL_RUN_TOKEN", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"})
_TAG_FORBIDDEN = re.compile(r"[<>%&\\?/]")
_GROUP_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.ContainerInstance/containerGroups/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AciRequest:
    """What ``submit`` sends: where, the ``ContainerGroup`` model, and cleanup policy."""

    subscription_id: str
    resource_group: str
    group: Any  # azure.mgmt.containerinstance.models.ContainerGroup
    keep_container_group: bool


# -- build_request (pure) ------------------------------------------------------------------


def _required(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not value:
        raise InfrastructureError(
            f"azure-container-instance job configuration needs {key!r}", retryable=False
        )
    return str(value)


def _environment(config: Mapping[str, Any]) -> list[Any]:
    models = sdk().models
    env = string_map(config.get("env"), what="env")
    secret = string_map(config.get("secret_env"), what="secret_env")
    secret |= {name: env.pop(name) for name in sorted(ALWAYS_SECRET & env.keys())}
    plain = [models.EnvironmentVariable(name=k, value=v) for k, v in env.items()]
    hidden = [models.EnvironmentVariable(name=k, secure_value=v) for k, v in secret.items()]
    return sorted(plain + hidden, key=lambda variable: variable.name)


def _resources(config: Mapping[str, Any]) -> Any:
    models = sdk().models
    gpu = None
    if int(config.get("gpu_count") or 0) > 0:
        gpu = models.GpuResource(count=int(config["gpu_count"]), sku=config.get("gpu_sku", "V100"))
    requests = models.ResourceRequests(
        cpu=float(config.get("cpu") or 1.0),
        memory_in_gb=float(config.get("memory") or 1.5),
        gpu=gpu,
    )
    return models.ResourceRequirements(requests=requests)


def _identity(config: Mapping[str, Any]) -> Any:
    identities = list(config.get("identities") or [])
    if not identities:
        return None
    models = sdk().models
    system = "SystemAssigned" in identities
    users = {i: models.UserAssignedIdentities() for i in identities if i != "SystemAssigned"}
    kind = ", ".join(k for k, on in (("SystemAssigned", system), ("UserAssigned", users)) if on)
    return models.ContainerGroupIdentity(type=kind, user_assigned_identities=users or None)


def _registry_credentials(config: Mapping[str, Any]) -> list[Any] | None:
    """``image_registry`` (Prefect's single registry) or ``image_registry_credentials`` (a list)."""
    entries = list(config.get("image_registry_credentials") or [])
    if config.get("image_registry"):
        entries.append(config["image_registry"])
    if not entries:
        return None
    models = sdk().models
    return [
        models.ImageRegistryCredential(
            server=entry.get("server") or entry.get("registry_url"),
            username=entry.get("username"),
            password=entry.get("password"),
            identity=entry.get("identity"),
        )
        for entry in entries
    ]


def _tags(job: Job, config: Mapping[str, Any], keep: bool) -> dict[str, str]:
    """Labels as ARM tags (no ``<>%&\\?/`` in keys), plus the run, attempt and keep flag."""
    labels = string_map(config.get("labels"), what="labels")
    tags = {_TAG_FORBIDDEN.sub("_", k)[:512]: v[:256] for k, v in labels.items()}
    return tags | {
        RUN_TAG: job.run_id,
        ATTEMPT_TAG: str(job.attempt),
        KEEP_TAG: "true" if keep else "false",
        "pushpool-run-name": str(config.get("name") or job.run_name)[:256],
    }


def build_group(job: Job) -> AciRequest:
    config = job.configuration
    models = sdk().models
    keep = flag(config.get("keep_container_group", False))
    container = models.Container(
        name=str(config.get("container_name") or "flow"),
        image=_required(config, "image"),
        command=command_list(config.get("entrypoint")) + command_list(config.get("command"))
        or None,
        environment_variables=_environment(config),
        resources=_resources(config),
    )
    subnets = [
        models.ContainerGroupSubnetId(id=s)
        if isinstance(s, str)
        else models.ContainerGroupSubnetId(**s)
        for s in config.get("subnet_ids") or []
    ]
    dns = config.get("dns_servers")
    group = models.ContainerGroup(
        location=_required(config, "location"),
        tags=_tags(job, config, keep),
        identity=_identity(config),
        containers=[container],
        image_registry_credentials=_registry_credentials(config),
        restart_policy="Never",
        os_type=str(config.get("os_type") or "Linux"),
        subnet_ids=subnets or None,
        dns_config=models.DnsConfiguration(name_servers=list(dns)) if dns else None,
    )
    return AciRequest(
        subscription_id=_required(config, "subscription_id"),
        resource_group=_required(config, "resource_group_name"),
        group=group,
        keep_container_group=keep,
    )


# -- the provider ----------------------------------------------------------------------------------


class AciProvider:
    """``core.ports.Provider`` for Azure Container Instances."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # container logs while the group exists (providers/aci/logs.py)

    def __init__(
        self,
        *,
        credential: Any = None,
        credential_factory: Any = None,
        client_kwargs: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._clock = clock
        self._credential = credential
        self._credential_factory = credential_factory
        # No SDK-level retries by default: the dispatch queue retries with back-off
        # and a Lambda should not sleep through a long Retry-After.
        self._client_kwargs = {"retry_total": 0, **(client_kwargs or {})}
        self._clients: dict[str, Any] = {}
        self._memo = TerminalMemo()

    def client(self, subscription_id: str) -> Any:
        """The management client for one subscription, built on first use."""
        if subscription_id not in self._clients:
            if self._credential is None:
                self._credential = self._credential_factory()
            self._clients[subscription_id] = sdk().mgmt.ContainerInstanceManagementClient(
                self._credential, subscription_id, **self._client_kwargs
            )
        return self._clients[subscription_id]

    def build_request(self, job: Job) -> AciRequest:
        return build_group(job)

    def submit(self, request: AciRequest, *, idempotency_key: str) -> str:
        name = dns_name(idempotency_key)
        groups = self.client(request.subscription_id).container_groups
        with translated("create the container group"):
            try:
                return str(groups.get(request.resource_group, name).id)
            except sdk().errors.ResourceNotFoundError:
                pass
            poller = groups.begin_create_or_update(
                request.resource_group, name, request.group, polling=False
            )
            return str(poller.result().id)

    def status(self, infra_id: str) -> InfraStatus:
        remembered = self._memo.get(infra_id)
        if remembered is not None:
            return remembered
        sub, rg, name = parse_group_id(infra_id)
        groups = self.client(sub).container_groups
        with translated("read the container group"):
            try:
                group = groups.get(rg, name)
            except sdk().errors.ResourceNotFoundError:
                return InfraStatus(
                    phase=InfraPhase.CRASHED, reason=f"container group {name} no longer exists"
                )
        status = status_of(group)
        if status.phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            return status
        if (group.tags or {}).get(KEEP_TAG) != "true":
            self._delete(groups, rg, name)
        return self._memo.remember(infra_id, status)

    def cancel(self, infra_id: str) -> None:
        sub, rg, name = parse_group_id(infra_id)
        with translated("stop the container group"):
            try:
                self.client(sub).container_groups.stop(rg, name)
            except sdk().errors.ResourceNotFoundError:
                return  # already gone: nothing left to stop

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        sub, rg, name = parse_group_id(infra_id)
        with translated("read the container's logs"):
            return read_output(
                self.client(sub),
                resource_group=rg,
                name=name,
                after=after,
                clock=self._clock,
                not_found=sdk().errors.ResourceNotFoundError,
            )

    def _delete(self, groups: Any, rg: str, name: str) -> None:
        """Best effort: a stopped group costs nothing; its outcome is already known."""
        try:
            with translated("delete the finished container group"):
                groups.begin_delete(rg, name, polling=False)
        except InfrastructureError as error:
            log.warning("could not delete container group %s: %s", name, error)


def parse_group_id(infra_id: str) -> tuple[str, str, str]:
    match = _GROUP_ID.match(infra_id)
    if match is None:
        raise InfrastructureError(
            f"{infra_id!r} is not a container group resource id", retryable=False
        )
    return match["sub"], match["rg"], match["name"]


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn Azure SDK errors into ``InfrastructureError``, honestly classified."""
    errors = sdk().errors
    try:
        yield
    except InfrastructureError:
        raise
    except errors.ClientAuthenticationError as exc:
        raise InfrastructureError(
            f"Azure rejected the credentials trying to {action}: {error_message(exc)}",
            retryable=False,
        ) from exc
    except errors.HttpResponseError as exc:
        retry_after = exc.response.headers.get("Retry-After") if exc.response else None
        hint = f" (retry after {retry_after} s)" if retry_after else ""
        raise InfrastructureError(
            f"Azure could not {action}: {error_message(exc)}{hint}",
            retryable=retryable_http_status(exc.status_code),
        ) from exc
    except (errors.ServiceRequestError, errors.ServiceResponseError) as exc:
        raise InfrastructureError(
            f"network error trying to {action}: {exc}", retryable=True
        ) from exc


# -- factory ---------------------------------------------------------------------------------------


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
