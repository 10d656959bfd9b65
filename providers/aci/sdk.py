"""The Azure SDK, imported on first use so other pools never load it."""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace

_SDK_MODULES = {
    "models": "azure.mgmt.containerinstance.models",
    "mgmt": "azure.mgmt.containerinstance",
    "errors": "azure.core.exceptions",
    "identity": "azure.identity",
}


@cache
def sdk() -> SimpleNamespace:
    """The Azure SDK modules, imported on first use so other pools never load them."""
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _SDK_MODULES.items()})
