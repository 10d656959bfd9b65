"""The Azure SDK, imported on first use, and what its errors say."""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace
from typing import Any

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


def error_message(exc: Any) -> str:
    """ARM's ``code: message`` of an SDK error, else the exception's text."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "message", None):
        return f"{error.code}: {error.message}" if error.code else str(error.message)
    return str(getattr(exc, "message", exc))
