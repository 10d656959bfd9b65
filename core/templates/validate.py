"""Validating base job templates and job variables (design §4).

A template is checked whenever it is created or updated: its shape, its
variables section as a JSON Schema, every default against its variable's
schema, and every placeholder against the declared variables.  Job variables
are checked against the variables schema and, unlike Prefect, unknown keys
are rejected: the variables section is the contract a platform team uses to
restrict what deployments may change.  Every error names the field path and
the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput
from core.models import JSON
from core.templates.merge import (
    ENV,
    coerce_env,
    defaults,
    is_dotted,
    properties,
    set_nested,
    split_dotted,
)
from core.templates.patterns import check_patterns, linear_time
from core.templates.placeholders import PLACEHOLDER, join, parse_path, walk_strings

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

TEMPLATE = "base_job_template"
TEMPLATE_KEYS = ("job_configuration", "variables")
MAX_REASON = 300


def validate_template(template: Any) -> None:
    """Raise ``InvalidInput`` unless ``template`` is a usable base job template.

    ``{}`` is valid: it stands for the pool type's default template.
    """
    if not isinstance(template, dict):
        raise InvalidInput(
            "must be a JSON object with job_configuration and variables", path=TEMPLATE
        )
    if not template:
        return
    _check_shape(template)
    variables = template["variables"]
    validator = _validator(variables, path=f"{TEMPLATE}.variables")
    _check_defaults(template, validator)
    _check_placeholders(template)


def validate_job_variables(
    template: Mapping[str, Any],
    variables: Any,
    *,
    path: str = "job_variables",
    required: bool = False,
) -> JSON:
    """The job variables, checked against the template and coerced.

    Returns a copy in which non-string ``env`` values are text.  Unknown
    variables are rejected unless the variables schema sets
    ``additionalProperties`` (to ``true`` or a schema).  A dotted key is
    checked as the nested value it sets, on top of the variable's default.
    The schema's ``required`` list is enforced only with ``required=True``,
    for a complete set of resolved values: a deployment may leave a
    required variable for each run to supply.
    """
    if not isinstance(variables, dict):
        raise InvalidInput("must be a JSON object of variable names to values", path=path)
    coerced = coerce_env(variables)
    schema = _variables_schema(template)
    _check_known(template, coerced, path=path)
    candidate = _candidate(template, coerced, path=path)
    if not required:
        schema = {key: value for key, value in schema.items() if key != "required"}
    errors = _validator(schema, path=f"{TEMPLATE}.variables").iter_errors(candidate)
    _raise_first(errors, path=path)
    return coerced


def _check_shape(template: Mapping[str, Any]) -> None:
    missing = [key for key in TEMPLATE_KEYS if key not in template]
    if missing:
        raise InvalidInput(
            f"missing {' and '.join(missing)}; a template has both job_configuration "
            "and variables (or is {} for the pool type's default)",
            path=TEMPLATE,
        )
    extra = sorted(set(template) - set(TEMPLATE_KEYS))
    if extra:
        raise InvalidInput(
            f"unknown key(s) {', '.join(extra)}; a template has only job_configuration "
            "and variables",
            path=TEMPLATE,
        )
    for key in TEMPLATE_KEYS:
        if not isinstance(template[key], dict):
            raise InvalidInput("must be a JSON object", path=f"{TEMPLATE}.{key}")


def _check_defaults(template: Mapping[str, Any], validator: Validator) -> None:
    """Each non-null default must satisfy its own variable's schema.

    ``evolve`` keeps the root's reference resolver, so a property that uses
    ``$ref: #/definitions/...`` (Prefect's style) resolves against the
    variables section.
    """
    declared = properties(template)
    for name, value in defaults(template).items():
        errors = validator.evolve(schema=declared[name]).iter_errors(value)
        _raise_first(errors, path=f"{TEMPLATE}.variables.properties.{name}.default")


def _check_placeholders(template: Mapping[str, Any]) -> None:
    declared = properties(template)
    base = f"{TEMPLATE}.job_configuration"
    _check_keys(template["job_configuration"], base)
    undeclared: dict[str, str] = {}
    for where, text in walk_strings(template["job_configuration"], base):
        for match in PLACEHOLDER.finditer(text):
            name = match.group(1)
            root = name if name in declared else str(parse_path(name, where=where)[0])
            if root not in declared:
                undeclared.setdefault(root, where)
    if undeclared:
        listed = ", ".join(f"{name} (at {where})" for name, where in sorted(undeclared.items()))
        raise InvalidInput(
            f"placeholders use undeclared variables: {listed}; declare each in "
            "variables.properties (pushpool resolves no Prefect blocks, Prefect "
            "variables or environment placeholders)",
            path=base,
        )


def _check_keys(value: Any, where: str) -> None:
    """Keys are never rendered, so a placeholder in a key would survive."""
    if isinstance(value, dict):
        for key, item in value.items():
            if PLACEHOLDER.search(key):
                raise InvalidInput(
                    f"placeholders are allowed in values only, not in the key {key!r}",
                    path=where,
                )
            _check_keys(item, join(where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys(item, f"{where}[{index}]")


def _variables_schema(template: Mapping[str, Any]) -> JSON:
    variables = template.get("variables") if isinstance(template, Mapping) else None
    return dict(variables) if isinstance(variables, dict) else {}


def _allows_extra(template: Mapping[str, Any]) -> bool:
    extra = _variables_schema(template).get("additionalProperties", False)
    return extra is True or isinstance(extra, dict)


def _check_known(template: Mapping[str, Any], variables: Mapping[str, Any], *, path: str) -> None:
    declared = properties(template)
    if _allows_extra(template):
        return
    roots = {key.split(".")[0] if is_dotted(key, declared) else key for key in variables}
    unknown = sorted(roots - set(declared))
    if unknown:
        allowed = ", ".join(sorted(declared)) or "none"
        raise InvalidInput(
            f"unknown job variable(s) {', '.join(unknown)}; this work pool's template "
            f"declares: {allowed} (a template can accept any key by setting "
            "additionalProperties: true in its variables)",
            path=path,
        )


def _candidate(template: Mapping[str, Any], variables: Mapping[str, Any], *, path: str) -> JSON:
    """The object the schema checks: plain values as given (env without its
    null "remove" markers), dotted keys applied onto the variable's default."""
    declared = properties(template)
    base = defaults(template)
    candidate: JSON = {}
    for key, value in variables.items():
        if is_dotted(key, declared):
            continue
        if key == ENV and isinstance(value, dict):
            candidate[key] = {name: text for name, text in value.items() if text is not None}
        else:
            candidate[key] = value
    for key, value in variables.items():
        if not is_dotted(key, declared):
            continue
        parts = split_dotted(key, where=f"{path}.{key}")
        if parts[0] not in candidate:
            candidate[parts[0]] = base.get(parts[0], {})
        set_nested(candidate, parts, value, where=f"{path}.{key}")
    return candidate


def _validator(schema: Mapping[str, Any], *, path: str) -> Validator:
    """A validator for ``schema``: its own ``$schema`` draft, else 2020-12.

    Checking a schema against its meta-schema costs milliseconds and every
    dispatch validates the same few pool schemas, so validators are kept by
    the schema's canonical JSON text.
    """
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"not JSON: {exc}", path=path) from exc
    check_patterns(schema, path=path)
    # jsonschema is imported here, not at module level: it is a fifth of a
    # Lambda's cold start, and the tick and infra_events functions never
    # validate a template (issue 16).
    from jsonschema import SchemaError  # noqa: PLC0415 - loaded where a template is checked

    try:
        return _compiled(text)
    except SchemaError as exc:
        where = path
        for key in exc.absolute_path:
            where = join(where, key)
        raise InvalidInput(f"not a valid JSON Schema: {exc.message}", path=where) from exc


@lru_cache(maxsize=256)
def _compiled(schema_text: str) -> Validator:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - loaded where a template is checked
    from jsonschema.validators import validator_for  # noqa: PLC0415 - loaded where a template is checked

    schema = json.loads(schema_text)
    cls = validator_for(schema, default=Draft202012Validator)
    cls.check_schema(schema)
    validator: Validator = linear_time(cls)(schema)
    return validator


def _raise_first(errors: Iterable[ValidationError], *, path: str) -> None:
    """Raise the most relevant error with its full path, listing the rest."""
    found = sorted(errors, key=lambda e: [str(part) for part in e.absolute_path])
    if not found:
        return
    from jsonschema.exceptions import best_match  # noqa: PLC0415 - loaded where a template is checked

    messages = []
    for error in found:
        best = best_match([error]) or error
        where = path
        for key in best.absolute_path:
            where = join(where, key)
        messages.append((where, _reason(best)))
    first_path, first_reason = messages[0]
    others = "; ".join(f"{where}: {reason}" for where, reason in messages[1:5])
    detail = f"{first_reason} (also {others})" if others else first_reason
    raise InvalidInput(detail, path=first_path)


def _reason(error: ValidationError) -> str:
    """jsonschema's message, cut short when it quotes a large value."""
    message: str = error.message
    return message if len(message) <= MAX_REASON else message[: MAX_REASON - 3] + "..."
