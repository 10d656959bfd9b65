"""The Vertex AI SDK, imported on first use so other pools never load it.

Only the generated ``google.cloud.aiplatform_v1`` client is used, not the
high-level ``aiplatform.CustomJob`` wrapper: the wrapper waits, stages code to
Cloud Storage and reads process-wide settings, none of which a worker wants.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import SimpleNamespace

_SDK_MODULES = {
    "aiplatform_v1": "google.cloud.aiplatform_v1",
    "exceptions": "google.api_core.exceptions",
    "service_account": "google.oauth2.service_account",
}


@cache
def sdk() -> SimpleNamespace:
    """The SDK modules, imported on first use so other pools never load them."""
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in _SDK_MODULES.items()})
