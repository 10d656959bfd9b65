"""Fixtures of the worker tests (a live API with tokens required), shared by module."""

from tests.e2e.worker_support import live_api, secured

__all__ = ["live_api", "secured"]
