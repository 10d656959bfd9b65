"""Shared set-up for the provider tests.

The contract suite lives in a plain module (``contract.py``) so that pytest
collects it only through each provider's subclass; registering it here gives
its bare ``assert`` statements pytest's detailed failure messages.
"""

from importlib.metadata import PackageNotFoundError, version

import pytest

pytest.register_assert_rewrite("tests.providers.contract")


def pytest_report_header() -> str:
    """Which kubernetes client runs: CI runs its tests with both ends of the bounds."""
    try:
        return f"kubernetes client: {version('kubernetes')}"
    except PackageNotFoundError:
        return "kubernetes client: not installed"
