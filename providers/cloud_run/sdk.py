"""The Google SDK, imported on first use, and what its errors say."""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace
from typing import Any

_SDK_MODULES = {
    "run_v2": "google.cloud.run_v2",
    "exceptions": "google.api_core.exceptions",
    "polling": "google.api_core.future.polling",
    "auth_errors": "google.auth.exceptions",
    "service_account": "google.oauth2.service_account",
    "requests": "requests",
}


@cache
def sdk() -> SimpleNamespace:
    """The Google SDK modules, imported on first use so other pools never load them."""
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _SDK_MODULES.items()})


def api_status(exc: Any) -> str:
    """The ``google.rpc`` status name (``ALREADY_EXISTS``...) of an API error, if given."""
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"].get("status", ""))
    except Exception:  # no JSON body (a proxy's HTML page, a gRPC error): no status name
        code = getattr(exc, "grpc_status_code", None)
        return code.name if code is not None else ""


def api_message(exc: Any) -> str:
    response = getattr(exc, "response", None)
    try:
        return str(response.json()["error"]["message"])
    except Exception:  # see api_status
        return str(getattr(exc, "message", exc))
