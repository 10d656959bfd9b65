"""The placeholder grammar shared by validation and rendering.

A placeholder is ``{{ name }}`` where ``name`` is a variable, optionally
followed by dotted keys and list indexes: ``{{ resources.limits.cpu }}``,
``{{ volumes[0] }}``.  The characters accepted between the braces are the
ones Prefect's templating accepts, so a Prefect template is recognised the
same way; what pushpool does *not* resolve (Prefect blocks, Prefect
variables, ``$ENV`` lookups) simply fails the "declared variable" check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from enum import Enum
from typing import Any

from core.errors import InvalidInput

PLACEHOLDER = re.compile(r"\{\{\s*([\w.\-\[\]$]+)\s*\}\}")
_PATH = re.compile(r"[\w\-$]+(?:\.[\w\-$]+|\[\d+\])*")
_SEGMENT = re.compile(r"[\w\-$]+|\[\d+\]")

PathKey = str | int


class Missing(Enum):
    """Marks a value that no variable supplies (distinct from JSON null)."""

    MISSING = "MISSING"


MISSING = Missing.MISSING


def parse_path(name: str, *, where: str = "") -> tuple[PathKey, ...]:
    """``"a.b[0]"`` -> ``("a", "b", 0)``; ``InvalidInput`` if malformed."""
    if not _PATH.fullmatch(name):
        raise InvalidInput(
            f"malformed placeholder {{{{ {name} }}}}: use a variable name, optionally "
            "followed by .key and [index] parts, as in {{ resources.limits.cpu }}",
            path=where,
        )
    return tuple(
        int(part[1:-1]) if part.startswith("[") else part for part in _SEGMENT.findall(name)
    )


def lookup(values: dict[str, Any], path: tuple[PathKey, ...]) -> Any:
    """The value at ``path`` in ``values``, or ``MISSING``.

    A numeric key indexes a list (``a.0`` and ``a[0]`` are the same, as in
    Prefect); an index on an object looks up the key of the same digits.
    """
    current: Any = values
    for key in path:
        if isinstance(current, dict):
            text_key = str(key)
            if text_key not in current:
                return MISSING
            current = current[text_key]
        elif isinstance(current, list):
            index = key if isinstance(key, int) else int(key) if key.isdigit() else None
            if index is None or index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def as_text(value: Any) -> str:
    """How a value reads inside a longer string.

    Strings as they are; numbers and booleans as JSON; objects and lists as
    compact JSON (Prefect inserts Python's repr, which no program can parse);
    a missing value or null as nothing.
    """
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def walk_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its display path (``a.b[0]``)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from walk_strings(item, join(path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk_strings(item, f"{path}[{index}]")


def join(path: str, key: PathKey) -> str:
    """Append a key or index to a display path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)
