"""``pushpool work-pool get-default-base-job-template`` and ``render-template``.

Both work offline with the base install: they read the template data in
``providers/templates`` and render with ``core.templates``; no server, store
or cloud SDK is involved.  ``render-template`` shows exactly what a template
renders to before any run exists (nothing injected at submission is added).

Errors print one line on stderr and exit 1, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from core.errors import PushpoolError
from core.templates import render, resolve_variables, validate_job_variables, validate_template
from handlers.cli.app import work_pool_app
from providers.registry import REGISTRY


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=1)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _read_text(path: Path, *, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        _fail(f"{option}: cannot read {str(path)!r}: {exc.strerror or exc}")


def _parse_json(text: str, *, option: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{option} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})")


def _json_argument(raw: str | None, *, option: str) -> Any:
    """``raw`` as JSON, or the JSON in the file it names as ``@FILE``."""
    if raw is None:
        return {}
    if raw.startswith("@"):
        raw = _read_text(Path(raw[1:]), option=option)
    return _parse_json(raw, option=option)


@work_pool_app.command("get-default-base-job-template")
def get_default_base_job_template(
    pool_type: Annotated[
        str, typer.Option("--type", "-t", help="The work pool type, e.g. process or ecs:push.")
    ],
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Write the template to this file instead of stdout."),
    ] = None,
) -> None:
    """Print the default base job template of a work pool type."""
    try:
        template = REGISTRY.default_template(pool_type)
    except PushpoolError as exc:
        _fail(exc.detail)
    text = json.dumps(template, indent=2, ensure_ascii=False) + "\n"
    if file is None:
        typer.echo(text, nl=False)
        return
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"--file: cannot write {str(file)!r}: {exc.strerror or exc}")
    typer.echo(f"Wrote the default {pool_type} base job template to {file}", err=True)


@work_pool_app.command("render-template")
def render_template(
    base_job_template: Annotated[
        Path | None,
        typer.Option(
            "--base-job-template",
            help="A JSON file holding the base job template ({} means the --type default).",
        ),
    ] = None,
    job_variables: Annotated[
        str | None,
        typer.Option("--job-variables", help="The flow run's job variables: JSON or @FILE."),
    ] = None,
    deployment_job_variables: Annotated[
        str | None,
        typer.Option(
            "--deployment-job-variables", help="The deployment's job variables: JSON or @FILE."
        ),
    ] = None,
    pool_type: Annotated[
        str | None,
        typer.Option("--type", "-t", help="Use this pool type's default template."),
    ] = None,
) -> None:
    """Print the job configuration a template renders to.

    Precedence: variable defaults < deployment job variables < run job
    variables.  Values injected at submission (PUSHPOOL_* environment,
    pushpool.io/* labels, the default name) are not added.
    """
    template = _load_template(base_job_template, pool_type)
    deployment_values = _json_argument(
        deployment_job_variables, option="--deployment-job-variables"
    )
    run_values = _json_argument(job_variables, option="--job-variables")
    try:
        validate_template(template)
        deployment_values = validate_job_variables(
            template, deployment_values, path="deployment_job_variables"
        )
        run_values = validate_job_variables(template, run_values, path="job_variables")
        if template:  # what a submission checks too: required variables, once merged
            merged = resolve_variables(template, deployment_values, run_values)
            validate_job_variables(template, merged, path="job_variables", required=True)
        rendered = render(
            template, deployment_variables=deployment_values, run_variables=run_values
        )
    except PushpoolError as exc:
        _fail(exc.detail)
    _print_json(rendered)


def _load_template(path: Path | None, pool_type: str | None) -> Any:
    """The template from the file; ``{}`` or no file means the type's default."""
    template: Any = {}
    if path is not None:
        template = _parse_json(
            _read_text(path, option="--base-job-template"), option="--base-job-template"
        )
    if template == {} and pool_type is not None:
        try:
            return REGISTRY.default_template(pool_type)
        except PushpoolError as exc:
            _fail(exc.detail)
    if path is None:
        _fail("give --base-job-template FILE, or --type T to render a type's default template")
    return template
