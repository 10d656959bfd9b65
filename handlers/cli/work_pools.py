"""``pushpool work-pool ...``: Prefect's verbs and flags, against the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from handlers.cli.app import work_pool_app
from handlers.cli.common import (
    Output,
    OutputOption,
    client,
    console,
    guard,
    print_json,
    save_profile,
)
from handlers.cli.output import bar, inspect_block, limit_text, short_time, table
from providers.registry import REGISTRY
from pushpool.client import ApiError

DEFAULT_TYPE = "process"
LateRunsOption = Annotated[
    str | None,
    typer.Option(
        "--late-runs",
        help="What to do with runs that became late while waiting: run, "
        "'skip_after 10m' or latest_only.",
    ),
]
TemplateOption = Annotated[
    Path | None,
    typer.Option(
        "--base-job-template",
        help="A JSON file with the base job template; the type's default when omitted.",
        exists=True,
        dir_okay=False,
    ),
]


def read_template(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object with job_configuration and variables")
    return data


@work_pool_app.command("create")
@guard
def create(
    name: str,
    *,
    pool_type: Annotated[
        str | None,
        typer.Option("--type", "-t", help="The pool type.", show_default="process"),
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    base_job_template: TemplateOption = None,
    concurrency_limit: Annotated[
        int | None, typer.Option("--concurrency-limit", min=0, help="Max runs at once.")
    ] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    set_as_default: Annotated[
        bool, typer.Option("--set-as-default", help="Use it as the default pool of this profile.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Update the pool if it already exists.")
    ] = False,
    late_runs: LateRunsOption = None,
) -> None:
    """Create a work pool (with its 'default' queue)."""
    template = read_template(base_job_template)
    with client() as api:
        try:
            pool = api.create_pool(
                name=name,
                type=pool_type or DEFAULT_TYPE,
                is_paused=paused,
                base_job_template=template or {},
                concurrency_limit=concurrency_limit,
                description=description,
                late_runs=late_runs,
            )
            verb = "Created"
        except ApiError as exc:
            if exc.status != 409 or not overwrite:
                raise
            changes: dict[str, Any] = {"is_paused": paused}
            if template is not None:
                changes["base_job_template"] = template
            if concurrency_limit is not None:
                changes["concurrency_limit"] = concurrency_limit
            if description is not None:
                changes["description"] = description
            if late_runs is not None:
                changes["late_runs"] = late_runs
            api.update_pool(name, **changes)
            pool, verb = api.read_pool(name), "Updated"
    console.print(f"{verb} work pool {escape(repr(pool['name']))} of type {pool['type']!r}.")
    if pool_type is None and verb == "Created":
        console.print(
            f"No --type was given, so it is a {DEFAULT_TYPE!r} pool: its runs are subprocesses "
            f"started by `pushpool worker start`. Other types: {', '.join(REGISTRY.known())}."
        )
    if set_as_default:
        path = save_profile({"default_work_pool": pool["name"]})
        console.print(f"Set {pool['name']!r} as the default work pool in {path}.")


@work_pool_app.command("update")
@guard
def update(
    name: str,
    base_job_template: TemplateOption = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    concurrency_limit: Annotated[int | None, typer.Option("--concurrency-limit", min=0)] = None,
    late_runs: LateRunsOption = None,
) -> None:
    """Update a work pool's template, description, concurrency limit or late-run policy."""
    changes: dict[str, Any] = {}
    template = read_template(base_job_template)
    if template is not None:
        changes["base_job_template"] = template
    if description is not None:
        changes["description"] = description
    if concurrency_limit is not None:
        changes["concurrency_limit"] = concurrency_limit
    if late_runs is not None:
        changes["late_runs"] = late_runs
    if not changes:
        raise ValueError(
            "nothing to update: give --base-job-template, --description, --concurrency-limit "
            "or --late-runs"
        )
    with client() as api:
        api.update_pool(name, **changes)
    console.print(f"Updated work pool {name!r}.")


@work_pool_app.command("ls")
@guard
def ls(output: OutputOption = Output.TABLE) -> None:
    """List work pools."""
    with client() as api:
        pools = api.list_pools()
    if output is Output.JSON:
        print_json(pools)
        return
    grid = table("Work Pools", caption="(**) denotes a paused pool")
    grid.add_column("Name", style="green", no_wrap=True)
    grid.add_column("Type", style="magenta", no_wrap=True)
    grid.add_column("ID", justify="right", style="cyan", overflow="fold")
    grid.add_column("Concurrency Limit", style="blue", no_wrap=True)
    grid.add_column("Status", no_wrap=True)
    for pool in pools:
        label = f"{pool['name']} (**)" if pool["is_paused"] else pool["name"]
        grid.add_row(
            escape(label), pool["type"], pool["id"], limit_text(pool["concurrency_limit"]),
            pool["status"],
        )  # fmt: skip
    console.print(grid)


@work_pool_app.command("inspect")
@guard
def inspect(name: str, output: OutputOption = Output.TABLE) -> None:
    """Show a work pool's configuration."""
    with client() as api:
        pool = api.read_pool(name)
    if output is Output.JSON:
        print_json(pool)
    else:
        inspect_block("WorkPool", pool)


@work_pool_app.command("preview")
@guard
def preview(
    name: str,
    hours: Annotated[float, typer.Option("--hours", "-h", min=0.001, help="Look-ahead.")] = 1.0,
    output: OutputOption = Output.TABLE,
) -> None:
    """Upcoming scheduled runs, late ones marked, and why each waits."""
    with client() as api:
        runs = api.preview(name, hours=hours)
    show_preview(runs, output)


def show_preview(runs: list[dict[str, Any]], output: Output) -> None:
    if output is Output.JSON:
        print_json(runs)
        return
    grid = table("Preview", caption="(**) denotes a late run")
    grid.add_column("Scheduled Start Time", justify="left", style="yellow")
    grid.add_column("Run ID", justify="left", style="cyan", overflow="fold")
    grid.add_column("Name", style="green", overflow="fold")
    grid.add_column("Queue", style="magenta", overflow="fold")
    grid.add_column("Waits because", style="red")
    for item in runs:
        run = item["flow_run"]
        when = short_time(run["expected_start_time"])
        grid.add_row(
            f"{when} (**)" if item["late"] else when,
            run["id"],
            escape(run["name"]),
            escape(run["work_queue_name"]),
            "released now" if item["released"] else (item["reason"] or ""),
        )
    console.print(grid)


@work_pool_app.command("pause")
@guard
def pause(name: str) -> None:
    """Pause a work pool: nothing is released until it resumes."""
    _update_pool(name, f"Paused work pool {name!r}.", is_paused=True)


@work_pool_app.command("resume")
@guard
def resume(name: str) -> None:
    """Resume a paused work pool."""
    _update_pool(name, f"Resumed work pool {name!r}.", is_paused=False)


@work_pool_app.command("delete")
@guard
def delete(name: str) -> None:
    """Delete a work pool with its queues, workers and scheduled runs."""
    with client() as api:
        api.delete_pool(name)
    console.print(f"Deleted work pool {name!r}.")


@work_pool_app.command("set-concurrency-limit")
@guard
def set_concurrency_limit(
    name: str, concurrency_limit: Annotated[int, typer.Argument(min=0)]
) -> None:
    """Set how many runs of the pool may hold a slot at once."""
    message = f"Set concurrency limit for work pool {name!r} to {concurrency_limit}."
    _update_pool(name, message, concurrency_limit=concurrency_limit)


@work_pool_app.command("clear-concurrency-limit")
@guard
def clear_concurrency_limit(name: str) -> None:
    """Remove the pool's concurrency limit."""
    _update_pool(name, f"Cleared concurrency limit for work pool {name!r}.", concurrency_limit=None)


def _update_pool(name: str, done: str, **changes: Any) -> None:
    """Apply one setting change to the pool, then say what was done."""
    with client() as api:
        api.update_pool(name, **changes)
    console.print(done)


@work_pool_app.command("slots")
@guard
def slots(name: str, output: OutputOption = Output.TABLE) -> None:
    """Slots in use per queue, with the runs holding them."""
    with client() as api:
        status = api.concurrency_status(name)
    if output is Output.JSON:
        print_json(status)
        return
    pool_line = bar(status["active_slots"], status["concurrency_limit"])
    console.print(f"Work pool {escape(repr(name))}: {pool_line}")
    grid = table("Slots", caption="(**) denotes a paused queue")
    grid.add_column("Priority", justify="right", style="blue")
    grid.add_column("Queue", style="green", no_wrap=True)
    grid.add_column("In use", no_wrap=True)
    grid.add_column("Runs holding a slot", style="cyan")
    for queue in status["queues"]:
        label = f"{queue['queue_name']} (**)" if queue["is_paused"] else queue["queue_name"]
        holders = ", ".join(f"{r['name']} ({r['state_type']})" for r in queue["flow_runs"])
        grid.add_row(
            str(queue["priority"]),
            escape(label),
            bar(queue["active_slots"], queue["concurrency_limit"]),
            escape(holders),
        )
    console.print(grid)
