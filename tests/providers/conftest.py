"""Shared set-up for the provider tests.

The contract suite lives in a plain module (``contract.py``) so that pytest
collects it only through each provider's subclass; registering it here gives
its bare ``assert`` statements pytest's detailed failure messages.
"""

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version

import pytest

from tests.fakes.moto_ecs import MotoEcs, moto_ecs

pytest.register_assert_rewrite("tests.providers.contract")


@pytest.fixture
def aws() -> Iterator[MotoEcs]:
    """moto's ECS with its gaps filled (tests/fakes/moto_ecs.py), for the ECS provider tests."""
    with moto_ecs() as fake:
        yield fake


def pytest_report_header() -> str:
    """Which kubernetes client runs: CI runs its tests with both ends of the bounds."""
    try:
        return f"kubernetes client: {version('kubernetes')}"
    except PackageNotFoundError:
        return "kubernetes client: not installed"
