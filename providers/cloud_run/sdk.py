"""The Google SDK, imported on first use, and what its errors say (``translated``)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace

from providers import google_api
from providers.google_api import RETRYABLE_STATUSES, api_message, api_status

__all__ = ["RETRYABLE_STATUSES", "api_message", "api_status", "sdk", "translated"]

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


@contextmanager
def translated(action: str) -> Iterator[None]:
    """``google_api.translated`` for the Cloud Run Admin API."""
    with google_api.translated("Cloud Run", action):
        yield
