"""The Vertex AI SDK, imported on first use, and what its errors say (``translated``).

Only the generated ``google.cloud.aiplatform_v1`` client is used, not the
high-level ``aiplatform.CustomJob`` wrapper: the wrapper waits, stages code to
Cloud Storage and reads process-wide settings, none of which a worker wants.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace

from providers import google_api

_SDK_MODULES = {
    "aiplatform_v1": "google.cloud.aiplatform_v1",
    "exceptions": "google.api_core.exceptions",
    "service_account": "google.oauth2.service_account",
}


@cache
def sdk() -> SimpleNamespace:
    """The SDK modules, imported on first use so other pools never load them."""
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _SDK_MODULES.items()})


@contextmanager
def translated(action: str) -> Iterator[None]:
    """``google_api.translated`` for the Vertex AI API."""
    with google_api.translated("Vertex AI", action):
        yield
