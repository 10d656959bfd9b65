"""Every test here gets the ``store`` fixture over every adapter (see fixtures.py)."""

from tests.contract.fixtures import *  # noqa: F403
