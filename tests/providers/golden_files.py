"""Golden files: what a provider's pure ``build_request`` produces, reviewed and kept in git.

A change to a request shows up as a diff of ``golden/*.json``.  To accept one,
``PUSHPOOL_UPDATE_GOLDEN=1 python -m pytest tests/providers`` rewrites the
files from what the code produces now; review the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"


def assert_golden(name: str, value: Any) -> None:
    """``value`` as sorted, indented JSON equals ``golden/<name>``."""
    path = GOLDEN / name
    text = json.dumps(value, indent=2, sort_keys=True) + "\n"
    if os.environ.get("PUSHPOOL_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{name} is missing: run with PUSHPOOL_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text()
