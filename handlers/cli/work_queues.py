"""``pushpool work-queue ...``: queues of a pool (``--pool``, or the profile's default)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from handlers.cli.app import work_queue_app
from handlers.cli.common import (
    Output,
    OutputOption,
    client,
    console,
    default_pool,
    guard,
    print_json,
)
from handlers.cli.output import inspect_block, limit_text, table
from handlers.cli.work_pools import show_preview

PoolOption = Annotated[
    str | None, typer.Option("--pool", "-p", help="The work pool (default: the profile's).")
]


@work_queue_app.command("create")
@guard
def create(
    name: str,
    *,
    pool: PoolOption = None,
    limit: Annotated[int | None, typer.Option("--limit", "-l", min=0)] = None,
    priority: Annotated[
        int | None, typer.Option("--priority", min=1, help="1 is the highest; default: first gap.")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    paused: Annotated[bool, typer.Option("--paused")] = False,
) -> None:
    """Create a work queue in a pool."""
    pool_name = default_pool(pool)
    with client() as api:
        queue = api.create_queue(
            pool_name,
            name=name,
            concurrency_limit=limit,
            priority=priority,
            description=description,
            is_paused=paused,
        )
    console.print(
        f"Created work queue {escape(repr(queue['name']))} in work pool {pool_name!r} "
        f"with priority {queue['priority']}."
    )


@work_queue_app.command("update")
@guard
def update(
    name: str,
    pool: PoolOption = None,
    priority: Annotated[int | None, typer.Option("--priority", min=1)] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-l", min=0)] = None,
) -> None:
    """Change a queue's priority, description or limit."""
    changes: dict[str, Any] = {}
    if priority is not None:
        changes["priority"] = priority
    if description is not None:
        changes["description"] = description
    if limit is not None:
        changes["concurrency_limit"] = limit
    if not changes:
        raise ValueError("nothing to update: give --priority, --description or --limit")
    pool_name = default_pool(pool)
    with client() as api:
        api.update_queue(pool_name, name, **changes)
    console.print(f"Updated work queue {name!r} in work pool {pool_name!r}.")


@work_queue_app.command("ls")
@guard
def ls(pool: PoolOption = None, output: OutputOption = Output.TABLE) -> None:
    """List a pool's queues by priority."""
    pool_name = default_pool(pool)
    with client() as api:
        queues = api.list_queues(pool_name)
    if output is Output.JSON:
        print_json(queues)
        return
    grid = table(f"Work Queues in work pool {pool_name!r}", caption="(**) denotes a paused queue")
    grid.add_column("Name", style="green", no_wrap=True)
    grid.add_column("Priority", style="magenta", no_wrap=True)
    grid.add_column("Concurrency Limit", style="blue", no_wrap=True)
    grid.add_column("Status", no_wrap=True)
    grid.add_column("Description", style="cyan")
    for queue in queues:
        label = f"{queue['name']} (**)" if queue["is_paused"] else queue["name"]
        grid.add_row(
            escape(label),
            str(queue["priority"]),
            limit_text(queue["concurrency_limit"]),
            queue["status"],
            escape(queue["description"] or ""),
        )
    console.print(grid)


@work_queue_app.command("inspect")
@guard
def inspect(name: str, pool: PoolOption = None, output: OutputOption = Output.TABLE) -> None:
    """Show a queue's settings and status."""
    with client() as api:
        queue = api.read_queue(default_pool(pool), name)
    if output is Output.JSON:
        print_json(queue)
    else:
        inspect_block("WorkQueue", queue)


@work_queue_app.command("preview")
@guard
def preview(
    name: str,
    pool: PoolOption = None,
    hours: Annotated[float, typer.Option("--hours", "-h", min=0.001)] = 1.0,
    output: OutputOption = Output.TABLE,
) -> None:
    """Upcoming runs of one queue, late ones marked, and why each waits."""
    with client() as api:
        runs = api.preview(default_pool(pool), hours=hours, queues=[name])
    show_preview(runs, output)


@work_queue_app.command("pause")
@guard
def pause(name: str, pool: PoolOption = None) -> None:
    """Pause a queue: its runs wait; lower queues keep the pool's slots."""
    _update_queue(pool, name, f"Paused work queue {name!r}.", is_paused=True)


@work_queue_app.command("resume")
@guard
def resume(name: str, pool: PoolOption = None) -> None:
    """Resume a paused queue."""
    _update_queue(pool, name, f"Resumed work queue {name!r}.", is_paused=False)


@work_queue_app.command("set-concurrency-limit")
@guard
def set_concurrency_limit(
    name: str, limit: Annotated[int, typer.Argument(min=0)], pool: PoolOption = None
) -> None:
    """Limit how many of the queue's runs hold a slot at once."""
    message = f"Concurrency limit of {limit} set on work queue {name!r}."
    _update_queue(pool, name, message, concurrency_limit=limit)


@work_queue_app.command("clear-concurrency-limit")
@guard
def clear_concurrency_limit(name: str, pool: PoolOption = None) -> None:
    """Remove the queue's own limit (the pool's still applies)."""
    message = f"Concurrency limits removed on work queue {name!r}."
    _update_queue(pool, name, message, concurrency_limit=None)


@work_queue_app.command("delete")
@guard
def delete(name: str, pool: PoolOption = None) -> None:
    """Delete a queue (not the pool's default queue)."""
    with client() as api:
        api.delete_queue(default_pool(pool), name)
    console.print(f"Deleted work queue {name!r}.")


def _update_queue(pool: str | None, name: str, done: str, **changes: Any) -> None:
    """Apply one setting change to the queue (in ``pool`` or the default), then say so."""
    with client() as api:
        api.update_queue(default_pool(pool), name, **changes)
    console.print(done)
