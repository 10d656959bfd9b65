"""``pushpool flow-run ls|inspect|cancel``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from handlers.cli.app import flow_run_app
from handlers.cli.common import Output, OutputOption, client, console, guard, print_json
from handlers.cli.output import inspect_block, short_time, table
from pushpool.types import FlowRun

STATE_STYLES = {
    "SCHEDULED": "yellow", "PENDING": "grey50", "RUNNING": "blue", "COMPLETED": "green",
    "FAILED": "red", "CRASHED": "bright_red", "CANCELLING": "magenta", "CANCELLED": "magenta",
    "PAUSED": "yellow",
}  # fmt: skip


def state_text(run: FlowRun) -> str:
    style = STATE_STYLES.get(run["state_type"], "white")
    return f"[{style}]{run['state_name']}[/{style}]"


@flow_run_app.command("ls")
@guard
def ls(
    pool: Annotated[str | None, typer.Option("--pool", "-p")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="State type, e.g. SCHEDULED (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 15,
    output: OutputOption = Output.TABLE,
) -> None:
    """List flow runs, newest scheduled time first."""
    where: dict[str, Any] = {"limit": limit}
    if state:
        where["flow_runs"] = {"state": {"type": {"any_": [s.upper() for s in state]}}}
    if pool:
        where["work_pools"] = {"name": {"any_": [pool]}}
    if queue:
        where["work_pool_queues"] = {"name": {"any_": [queue]}}
    with client() as api:
        runs = api.list_runs(**where)
    if output is Output.JSON:
        print_json(runs)
        return
    grid = table("Flow Runs")
    grid.add_column("ID", style="cyan", overflow="fold")
    grid.add_column("Name", style="green", overflow="fold")
    grid.add_column("State", no_wrap=True)
    grid.add_column("Work Pool / Queue", style="magenta", overflow="fold")
    grid.add_column("Scheduled", style="yellow")
    for run in runs:
        grid.add_row(
            run["id"],
            escape(run["name"]),
            state_text(run),
            escape(f"{run['work_pool_name']} / {run['work_queue_name']}"),
            short_time(run["expected_start_time"]),
        )
    console.print(grid)


@flow_run_app.command("inspect")
@guard
def inspect(run_id: str, output: OutputOption = Output.TABLE) -> None:
    """Show a flow run and its state."""
    with client() as api:
        run = api.read_run(run_id)
    if output is Output.JSON:
        print_json(run)
    else:
        inspect_block("FlowRun", run)


@flow_run_app.command("cancel")
@guard
def cancel(run_id: str) -> None:
    """Cancel a flow run: at once if not started, else once its infrastructure stops."""
    with client() as api:
        result = api.cancel_run(run_id)
    if result["status"] != "ACCEPT":
        reason = (result.get("details") or {}).get("reason") or result["status"]
        raise ValueError(f"flow run {run_id} was not cancelled: {reason}")
    console.print(f"Flow run {run_id!r} is now {result['state']['name']}.")
