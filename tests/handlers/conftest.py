"""The Lambda handler tests run over a real SQLite store in the test's directory,
and SQS (the trigger queues) in moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.ports import Store
from core.store import open_store
from tests.clock import FakeClock


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'pushpool.db'}", clock=clock)


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
