"""The catalogue of pool types: mode, wording for UIs, default template, provider.

Everything here is data plus ``importlib``: importing this module imports no
cloud SDK and no provider module.  A dispatcher Lambda for an ECS pool must
never pay for (or depend on) the Azure, Google or Modal SDKs, so a provider
module is imported only by ``load_provider`` and only for its own pool type.

Convention for provider packages (providers/README.md): ``providers/<name>/__init__.py``
defines ``make_provider(**clients) -> core.ports.Provider``; the registry calls
it with the keyword arguments ``load_provider`` received (clients, settings),
and the package imports its SDK inside that factory, never at import time.
Several pool types share a package (``ecs``, ``ecs:push`` and ``managed`` all
use ``providers.ecs``); ``Job.pool_type`` tells the provider which one.
"""

from __future__ import annotations

import copy
import importlib
import json
from functools import cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import InfrastructureError, InvalidInput
from core.models import JSON
from core.ports import PoolMode, Provider
from core.rules.pools import unknown_type_message

PULL, PUSH, MANAGED = PoolMode.PULL, PoolMode.PUSH, PoolMode.MANAGED
_PUSHED = "Flow runs are pushed directly to your environment, without the need for a worker."


class PoolTypeInfo(BaseModel):
    """What a UI or the CLI shows about a pool type, and how to serve it."""

    model_config = ConfigDict(frozen=True)

    type: str
    title: str
    description: str
    mode: PoolMode
    provider: str  # package under ``providers``
    extra: str | None  # the pip extra its SDK comes with; None if in the base install
    template_file: str

    @property
    def needs_worker(self) -> bool:
        return self.mode is PoolMode.PULL


_ECS = "Execute flow runs within containers on AWS ECS."
_GCR = "Execute flow runs within containers on Google Cloud Run"
_ACI = "Execute flow runs within containers on Azure's Container Instances service."
# type, title, mode, provider module, pip extra, description
_ROWS: tuple[tuple[str, str, PoolMode, str, str | None, str], ...] = (
    ("process", "Process", PULL, "process", None,
     "Execute flow runs as subprocesses on a worker. Works well for local execution when "
     "first getting started."),
    ("docker", "Docker", PULL, "docker", "docker",
     "Execute flow runs within Docker containers. Works well for managing flow execution "
     "environments through Docker images. Requires access to a running Docker daemon."),
    ("kubernetes", "Kubernetes", PULL, "kubernetes", "kubernetes",
     "Execute flow runs within jobs scheduled on a Kubernetes cluster. Requires a "
     "Kubernetes cluster."),
    ("ecs", "AWS Elastic Container Service", PULL, "ecs", None,
     f"{_ECS} Works with EC2 and Fargate clusters. Requires an AWS account."),
    ("ecs:push", "AWS Elastic Container Service - Push", PUSH, "ecs", None,
     f"{_ECS} Works with existing ECS clusters and serverless execution through AWS "
     f"Fargate. Requires an AWS account. {_PUSHED}"),
    ("cloud-run", "Google Cloud Run", PULL, "cloud_run", "gcp",
     f"{_GCR}. Requires a Google Cloud Platform account."),
    ("cloud-run-v2", "Google Cloud Run V2", PULL, "cloud_run", "gcp",
     f"{_GCR} (V2 API). Requires a Google Cloud Platform account."),
    ("cloud-run:push", "Google Cloud Run - Push", PUSH, "cloud_run", "gcp",
     f"{_GCR}. Requires a Google Cloud Platform account. {_PUSHED}"),
    ("cloud-run-v2:push", "Google Cloud Run V2 - Push", PUSH, "cloud_run", "gcp",
     f"{_GCR} (V2 API). Requires a Google Cloud Platform account. {_PUSHED}"),
    ("azure-container-instance", "Azure Container Instances", PULL, "aci", "azure",
     f"{_ACI} Requires an Azure account."),
    ("azure-container-instance:push", "Azure Container Instances - Push", PUSH, "aci", "azure",
     f"{_ACI} Requires an Azure account. {_PUSHED}"),
    ("vertex-ai", "Google Vertex AI", PULL, "vertex_ai", "gcp",
     "Execute flow runs within containers on Google Vertex AI. Requires a Google Cloud "
     "Platform account."),
    ("modal:push", "Modal - Push", PUSH, "modal", "modal",
     "Execute flow runs on Modal. Requires a Modal account. Flow runs are pushed directly "
     "to your Modal workspace, without the need for a worker."),
    ("managed", "pushpool Managed", MANAGED, "ecs", None,
     "Execute flow runs within containers on the ECS Fargate cluster that the pushpool "
     "stack creates. Choose only the image, CPU, memory and environment; no worker and no "
     "infrastructure of your own."),
)  # fmt: skip
_TYPES = tuple(
    PoolTypeInfo(
        type=pool_type,
        title=title,
        description=description,
        mode=mode,
        provider=provider,
        extra=extra,
        template_file=pool_type.replace(":", "-") + ".json",
    )
    for pool_type, title, mode, provider, extra, description in _ROWS
)


class PoolTypeRegistry:
    """Implements ``core.ports.PoolTypes`` over the table above."""

    def __init__(self, types: tuple[PoolTypeInfo, ...] = _TYPES) -> None:
        self._types = {info.type: info for info in types}

    def known(self) -> list[str]:
        return list(self._types)

    def describe(self, pool_type: str) -> PoolTypeInfo:
        """The type's title, description, mode and provider; ``InvalidInput``
        listing the valid types if it is unknown."""
        try:
            return self._types[pool_type]
        except KeyError:
            raise InvalidInput(unknown_type_message(pool_type, self.known()), path="type") from None

    def mode(self, pool_type: str) -> PoolMode:
        return self.describe(pool_type).mode

    def default_template(self, pool_type: str) -> JSON:
        """A fresh copy of the type's default base job template."""
        return copy.deepcopy(_load_template(self.describe(pool_type).template_file))

    def load_provider(self, pool_type: str, **clients: Any) -> Provider:
        """Import ``providers.<module>`` for this pool type and build its provider.

        Errors are terminal ``InfrastructureError``s that say what to install:
        retrying cannot make a missing module or SDK appear.
        """
        info = self.describe(pool_type)
        module_name = f"providers.{info.provider}"
        hint = f"; install it with pip install 'pushpool[{info.extra}]'" if info.extra else ""
        try:
            module = importlib.import_module(module_name)
            factory = getattr(module, "make_provider", None)
            if not callable(factory):
                raise InfrastructureError(
                    f"{module_name} has no make_provider() factory; pool type {pool_type!r} "
                    "cannot be served",
                    retryable=False,
                )
            provider: Provider = factory(**clients)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                raise InfrastructureError(
                    f"pool type {pool_type!r} has no provider in this installation "
                    f"({module_name} is missing)",
                    retryable=False,
                ) from exc
            raise InfrastructureError(
                f"the provider for pool type {pool_type!r} needs {exc.name!r}, which is not "
                f"installed{hint}",
                retryable=False,
            ) from exc
        except ImportError as exc:
            raise InfrastructureError(
                f"the provider for pool type {pool_type!r} could not import its SDK: {exc}{hint}",
                retryable=False,
            ) from exc
        except InfrastructureError:
            raise
        except Exception as exc:
            # Building a client fails on configuration (botocore's NoRegionError,
            # a malformed credentials file): terminal, and said in one line
            # instead of a traceback on every pass (issue 13, fault 4).
            raise InfrastructureError(
                f"the provider for pool type {pool_type!r} cannot be set up here: "
                f"{type(exc).__name__}: {exc} (configure it, e.g. its region or credentials)",
                retryable=False,
            ) from exc
        return provider


REGISTRY = PoolTypeRegistry()


@cache
def _load_template(file_name: str) -> JSON:
    text = resources.files("providers").joinpath("templates", file_name).read_text("utf-8")
    template: JSON = json.loads(text)
    return template


def describe(pool_type: str) -> PoolTypeInfo:
    return REGISTRY.describe(pool_type)


def load_provider(pool_type: str, **clients: Any) -> Provider:
    """``REGISTRY.load_provider``: the provider for ``pool_type``, imported lazily."""
    return REGISTRY.load_provider(pool_type, **clients)
