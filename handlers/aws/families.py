"""Provider families: which dispatch function serves a pool (docs/decisions.md,
"One dispatch function per provider family").

The ECS path ships only boto3; the Google, Azure and Modal SDKs each live in
a layer attached to a dispatch function of their own, fed by a queue of their
own.  A pool's family follows from the provider module its type uses, so a
new pool type of an existing provider needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from core.errors import InvalidInput
from providers.registry import REGISTRY


class Family(StrEnum):
    AWS = "aws"  # ecs, ecs:push, managed: the default dispatch function
    GCP = "gcp"  # cloud-run, cloud-run-v2 (+ :push), vertex-ai
    AZURE = "azure"  # azure-container-instance (+ :push)
    MODAL = "modal"  # modal:push


_BY_PROVIDER_MODULE = {
    "ecs": Family.AWS,
    "cloud_run": Family.GCP,
    "vertex_ai": Family.GCP,
    "aci": Family.AZURE,
    "modal": Family.MODAL,
}

# Environment variable naming each family's dispatch queue (template.yaml).
QUEUE_URL_VARIABLES = {
    Family.AWS: "PUSHPOOL_DISPATCH_QUEUE_URL",
    Family.GCP: "PUSHPOOL_DISPATCH_QUEUE_URL_GCP",
    Family.AZURE: "PUSHPOOL_DISPATCH_QUEUE_URL_AZURE",
    Family.MODAL: "PUSHPOOL_DISPATCH_QUEUE_URL_MODAL",
}

# Environment variable naming each family's credentials secret; AWS needs
# none (the function's role is its credential).
SECRET_VARIABLES = {
    Family.GCP: "PUSHPOOL_GCP_CREDENTIALS_SECRET",
    Family.AZURE: "PUSHPOOL_AZURE_CREDENTIALS_SECRET",
    Family.MODAL: "PUSHPOOL_MODAL_TOKEN_SECRET",
}

# What to switch on when a family's queue is missing.
ENABLE_FLAGS = {
    Family.GCP: "EnableGcp (enable_gcp in Terraform)",
    Family.AZURE: "EnableAzure (enable_azure in Terraform)",
    Family.MODAL: "EnableModal (enable_modal in Terraform)",
}


def family_of(pool_type: str) -> Family | None:
    """The family serving ``pool_type``; None for types no cloud function
    serves (process, docker, kubernetes) or unknown types."""
    try:
        module = REGISTRY.describe(pool_type).provider
    except InvalidInput:
        return None
    return _BY_PROVIDER_MODULE.get(module)


def dispatch_setup_problem(pool_type: str, *, queues: Mapping[Family, str]) -> str | None:
    """What keeps this deployment from dispatching ``pool_type``: no queue (and so
    no dispatch function) for its family; None when it can (``Context.dispatch_setup``)."""
    family = family_of(pool_type)
    if family is None or family in queues:
        return None
    flag = ENABLE_FLAGS.get(family)
    hint = f"; deploy the stack with {flag}" if flag else ""
    return f"this deployment has no dispatch function for {family.value} pools{hint}"
