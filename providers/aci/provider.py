"""``AciProvider``: create container groups, read their instance view, stop, clean up.

See the package docstring for how a repeated submit finds its group.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.aci.errors import translated
from providers.aci.logs import read_output
from providers.aci.request import KEEP_TAG, AciRequest, build_request
from providers.aci.sdk import sdk
from providers.aci.status import group_status
from providers.shared import TerminalMemo, dns_name

log = logging.getLogger(__name__)

_GROUP_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.ContainerInstance/containerGroups/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


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
        return build_request(job)

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
        status = group_status(group)
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
