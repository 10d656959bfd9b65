"""Cloud Run Admin API errors -> ``InfrastructureError`` (what ``google_api`` says of Google's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from providers import google_api


@contextmanager
def translated(action: str) -> Iterator[None]:
    """``google_api.translated`` for the Cloud Run Admin API."""
    with google_api.translated("Cloud Run", action):
        yield
