"""JSON Schema's regular expressions, run on RE2 so they take linear time.

A template's variables are a JSON Schema written by whoever may create a
pool, and jsonschema runs ``pattern`` and ``patternProperties`` on Python's
backtracking engine: ``(a+)+$`` against forty ``a`` and a ``!`` took minutes
and held the API (issue 14).  RE2 matches in time linear in the input and
refuses what it cannot do that way (backreferences, lookaround), so every
pattern of a template is compiled here when the template is checked, and the
validator's regex keywords are replaced by versions that match with RE2.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, cast

import re2

from core.errors import InvalidInput
from core.templates.placeholders import join

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

UNEVALUATED = "\x00unevaluatedProperties"  # a marker no JSON Schema pattern can be
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every refused pattern to stderr


class _Regex(Protocol):
    def search(self, text: str) -> object | None: ...


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> _Regex:
    return cast(_Regex, re2.compile(pattern, _OPTIONS))


def compile_pattern(pattern: str, *, path: str) -> _Regex:
    """The compiled pattern, or ``InvalidInput`` naming where it was written."""
    try:
        return _compile(pattern)
    except re2.error as exc:
        raise InvalidInput(
            f"the pattern {pattern[:80]!r} is not supported ({_reason(exc)}); patterns "
            "run on RE2, which matches in linear time and has no backreferences or "
            "lookaround",
            path=path,
        ) from exc


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else exc
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def _patterns(schema: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every (pattern, path) in a schema: ``pattern`` values and
    ``patternProperties`` keys, at any depth.  ``unevaluatedProperties``
    counts as a pattern: jsonschema would match the patterns it depends on
    with Python's engine."""
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from _patterns(item, f"{path}[{index}]")
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        where = join(path, key)
        if key == "pattern" and isinstance(value, str):
            yield value, where
        if key == "patternProperties" and isinstance(value, dict):
            yield from ((str(p), join(where, p)) for p in value)
        if key == "unevaluatedProperties":
            yield UNEVALUATED, where
        yield from _patterns(value, where)


def check_patterns(schema: Any, *, path: str) -> None:
    """Raise unless every pattern of ``schema`` compiles with RE2 and nothing
    would run one on Python's engine instead."""
    found = list(_patterns(schema, path))
    for pattern, where in found:
        if pattern is not UNEVALUATED:
            compile_pattern(pattern, path=where)
    unevaluated = [where for pattern, where in found if pattern is UNEVALUATED]
    if unevaluated and len(unevaluated) < len(found):
        raise InvalidInput(
            "unevaluatedProperties cannot be combined with patterns here; use additionalProperties",
            path=unevaluated[0],
        )


def _pattern(
    validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    from jsonschema import ValidationError  # noqa: PLC0415 - loaded where a template is checked

    if validator.is_type(instance, "string") and _compile(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _matches_a_pattern(name: str, schema: Mapping[str, Any]) -> bool:
    return any(_compile(p).search(name) for p in schema.get("patternProperties", {}))


def _pattern_properties(
    validator: Validator, patterns: Mapping[str, Any], instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        regex = _compile(pattern)
        for name, value in instance.items():
            if regex.search(name):
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _additional_properties(
    validator: Validator, allowed: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    declared = schema.get("properties", {})
    extras = sorted(
        name for name in instance if name not in declared and not _matches_a_pattern(name, schema)
    )
    if validator.is_type(allowed, "object"):
        for name in extras:
            yield from validator.descend(instance[name], allowed, path=name)
    elif not allowed and extras:
        from jsonschema import ValidationError  # noqa: PLC0415 - loaded where a template is checked

        names = ", ".join(repr(name) for name in extras)
        verb = "was" if len(extras) == 1 else "were"
        yield ValidationError(f"Additional properties are not allowed ({names} {verb} unexpected)")


def linear_time(cls: type[Validator]) -> type[Validator]:
    """``cls`` with its regex keywords matched by RE2."""
    from jsonschema.validators import extend  # noqa: PLC0415 - loaded where a template is checked

    keywords = {
        "pattern": _pattern,
        "patternProperties": _pattern_properties,
        "additionalProperties": _additional_properties,
    }
    return cast("type[Validator]", extend(cls, keywords))
