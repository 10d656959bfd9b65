"""The Google SDK for Cloud Run, imported on first use so other pools never load it."""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace

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
