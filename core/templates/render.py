"""Rendering a job configuration from resolved variable values (design §4).

Pure and deterministic: the only inputs are the template and the values.
Nothing reads the environment, the network or the clock (Prefect's renderer
expands ``{{ $VAR }}`` from ``os.environ``; a dispatcher Lambda's environment
is not the user's, so pushpool never does).
"""

from __future__ import annotations

import re
from typing import Any

from core.templates.placeholders import MISSING, PLACEHOLDER, as_text, lookup, parse_path


def substitute(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with every placeholder replaced, or ``MISSING``.

    - A string that is exactly one placeholder becomes the value itself,
      typed (number, bool, object, list, null); ``MISSING`` if no value.
    - Placeholders inside a longer string become text (see ``as_text``).
    - Objects and lists are rendered item by item; an item that renders to
      ``MISSING`` is dropped, so a missing variable removes its key.

    One pass: inserted values are never scanned for placeholders again.
    """
    if isinstance(template, str):
        return _substitute_string(template, values)
    if isinstance(template, dict):
        rendered: dict[str, Any] = {}
        for key, item in template.items():
            value = substitute(item, values)
            if value is not MISSING:
                rendered[key] = value
        return rendered
    if isinstance(template, list):
        items = (substitute(item, values) for item in template)
        return [item for item in items if item is not MISSING]
    return template


def _substitute_string(template: str, values: dict[str, Any]) -> Any:
    whole = PLACEHOLDER.fullmatch(template)
    if whole:
        return _value(values, whole.group(1))

    def replace(match: re.Match[str]) -> str:
        return as_text(_value(values, match.group(1)))

    return PLACEHOLDER.sub(replace, template)


def _value(values: dict[str, Any], name: str) -> Any:
    """A variable literally named ``a.b`` wins over the path ``a`` -> ``b``,
    as validation accepts it as declared."""
    if name in values:
        return values[name]
    return lookup(values, parse_path(name))
