"""Merging variable defaults, deployment and run job variables (design §4).

Precedence, lowest first: the template's variable defaults (null defaults
skipped), the deployment's ``job_variables``, the flow run's
``job_variables``.  ``env`` is merged key by key and a key set to null is
removed; every other variable is replaced wholesale; a dotted key such as
``"env.FOO"`` or ``"resources.limits.cpu"`` sets one nested value.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from core.errors import InvalidInput
from core.models import JSON
from core.templates.placeholders import as_text

ENV = "env"


def properties(template: Mapping[str, Any]) -> dict[str, Any]:
    """The declared variables of a template (``{}`` for the empty template)."""
    variables = template.get("variables") or {}
    declared = variables.get("properties") if isinstance(variables, dict) else None
    return declared if isinstance(declared, dict) else {}


def defaults(template: Mapping[str, Any]) -> JSON:
    """Each declared variable's default; a null default counts as none."""
    return {
        name: copy.deepcopy(schema["default"])
        for name, schema in properties(template).items()
        if isinstance(schema, dict) and schema.get("default") is not None
    }


def is_dotted(key: str, declared: Mapping[str, Any]) -> bool:
    """A dotted override key, unless a variable is literally named so."""
    return "." in key and key not in declared


def split_dotted(key: str, *, where: str) -> list[str]:
    """``"a.b.c"`` -> ``["a", "b", "c"]``; ``env`` keys are flat, so
    ``"env.A.B"`` sets the variable ``A.B``."""
    parts = key.split(".")
    if parts[0] == ENV:
        parts = [ENV, ".".join(parts[1:])]
    if any(not part for part in parts):
        raise InvalidInput(f"{key!r} has an empty part; write it as name.key", path=where)
    return parts


def env_text(value: Any) -> Any:
    """Environment values are strings; null is kept (it means "remove")."""
    return value if value is None or isinstance(value, str) else as_text(value)


def coerce_env(variables: Mapping[str, Any]) -> JSON:
    """A deep copy of ``variables`` with non-string env values as text."""
    result = copy.deepcopy(dict(variables))
    env = result.get(ENV)
    if isinstance(env, dict):
        result[ENV] = {key: env_text(value) for key, value in env.items()}
    for key, value in result.items():
        if key.startswith(ENV + "."):
            result[key] = env_text(value)
    return result


def set_nested(target: JSON, parts: list[str], value: Any, *, where: str) -> None:
    """Set ``target[p0][p1]...`` to ``value``, creating objects on the way;
    a null value removes the nested key instead."""
    node = target
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            above = ".".join(parts[: depth + 1])
            raise InvalidInput(
                f"cannot set {'.'.join(parts)!r}: {above!r} is not an object", path=where
            )
        node = child
    if value is None:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = copy.deepcopy(value)


def apply_overrides(
    values: JSON, overrides: Mapping[str, Any], declared: Mapping[str, Any], *, where: str
) -> JSON:
    """``values`` with one level of job variables applied on top.

    Plain keys are applied before dotted ones, so ``{"env": {...},
    "env.X": "1"}`` sets X whatever the dict order.
    """
    result = copy.deepcopy(values)
    overrides = coerce_env(overrides)
    plain = [(k, v) for k, v in overrides.items() if not is_dotted(k, declared)]
    dotted = [(k, v) for k, v in overrides.items() if is_dotted(k, declared)]
    for key, value in plain:
        if key == ENV and isinstance(value, dict):
            base = result.get(ENV)
            merged = dict(base) if isinstance(base, dict) else {}
            for name, text in value.items():
                if text is None:
                    merged.pop(name, None)
                else:
                    merged[name] = text
            result[ENV] = merged
        else:
            result[key] = copy.deepcopy(value)
    for key, value in dotted:
        set_nested(result, split_dotted(key, where=f"{where}.{key}"), value, where=where)
    return result


def resolve_variables(
    template: Mapping[str, Any],
    deployment_variables: Mapping[str, Any] | None,
    run_variables: Mapping[str, Any] | None,
) -> JSON:
    """The values placeholders are filled from: defaults < deployment < run.

    No validation happens here (see ``validate_job_variables``); a dotted key
    that runs into a non-object value raises ``InvalidInput``.
    """
    declared = properties(template)
    values = defaults(template)
    levels = (("deployment_job_variables", deployment_variables), ("job_variables", run_variables))
    for where, level in levels:
        if level:
            values = apply_overrides(values, level, declared, where=where)
    return values
