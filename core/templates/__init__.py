"""Base job templates: validation, variable merging and rendering (design §4).

A template is ``{"job_configuration": {...}, "variables": <JSON Schema>}``;
``{}`` stands for the pool type's default.  The public functions:

- ``validate_template(template)`` on every create and update;
- ``validate_job_variables(template, variables, *, path=...)`` for a
  deployment's or a run's job variables (returns the coerced copy);
- ``resolve_variables(template, deployment_variables, run_variables)``:
  defaults < deployment < run;
- ``render(template, *, deployment_variables, run_variables)``: the rendered
  ``job_configuration``, with nothing injected (``core.services.jobs`` adds
  what a submission needs).

All raise ``core.errors.InvalidInput`` whose message starts with the path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.models import JSON
from core.templates.merge import defaults, properties, resolve_variables
from core.templates.placeholders import PLACEHOLDER, as_text
from core.templates.render import substitute
from core.templates.validate import validate_job_variables, validate_template

__all__ = [
    "PLACEHOLDER",
    "as_text",
    "defaults",
    "properties",
    "render",
    "render_resolved",
    "resolve_variables",
    "validate_job_variables",
    "validate_template",
]


def render_resolved(template: Mapping[str, Any], values: Mapping[str, Any]) -> JSON:
    """The template's ``job_configuration`` filled from already-resolved values."""
    configuration = template.get("job_configuration") or {}
    rendered = substitute(configuration, dict(values))
    return rendered if isinstance(rendered, dict) else {}


def render(
    template: Mapping[str, Any],
    *,
    deployment_variables: Mapping[str, Any] | None = None,
    run_variables: Mapping[str, Any] | None = None,
) -> JSON:
    """The rendered ``job_configuration``: defaults < deployment < run.

    Validation is separate (``validate_template``, ``validate_job_variables``)
    so a caller that already validated pays nothing twice.
    """
    values = resolve_variables(template, deployment_variables, run_variables)
    return render_resolved(template, values)
