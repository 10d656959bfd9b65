"""Shared set-up for the provider tests.

The contract suite lives in a plain module (``contract.py``) so that pytest
collects it only through each provider's subclass; registering it here gives
its bare ``assert`` statements pytest's detailed failure messages.
"""

import pytest

pytest.register_assert_rewrite("tests.providers.contract")
