"""The real clock and id factory, for the processes that compose themselves.

Apart from the composition root (``handlers.bootstrap``), the pull worker
needs them too, and it must not load the root, which builds stores and
services (see the import contracts in ``pyproject.toml``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())
