"""How the demo looks: a live table of queues and runs, then the summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from handlers.cli.output import bar
from handlers.demo.scenario import Scenario, Summary

STYLES = {
    "SCHEDULED": "yellow", "PENDING": "grey50", "RUNNING": "blue", "COMPLETED": "green",
    "FAILED": "red", "CRASHED": "bright_red", "CANCELLING": "magenta", "CANCELLED": "magenta",
}  # fmt: skip


def live_view(
    runs: Sequence[Mapping[str, Any]],
    status: dict[str, Any],
    admitted: dict[str, int],
    scenario: Scenario,
    elapsed: float,
) -> RenderableType:
    """``admitted``: each claimed run's position in the claim order, computed
    as the summary computes it (``scenario.claim_order``), so the two agree."""
    done = sum(1 for r in runs if r["end_time"] is not None)
    head = Text.from_markup(
        f"[bold]pushpool demo[/bold] · work pool [green]demo-pool[/green] · "
        f"{bar(status['active_slots'], status['concurrency_limit'], width=12)} slots · "
        f"{done}/{scenario.runs} finished · {elapsed:4.1f} s"
    )
    queues = Table(title="Queues (waterfall: priority 1 first)", title_justify="left")
    queues.add_column("Priority", justify="right", style="blue")
    queues.add_column("Queue", style="green")
    queues.add_column("Slots in use")
    queues.add_column("Waiting", justify="right", style="yellow")
    queues.add_column("Done", justify="right", style="green")
    for queue in status["queues"]:
        mine = [r for r in runs if r["work_queue_name"] == queue["queue_name"]]
        if not mine:
            continue
        queues.add_row(
            str(queue["priority"]),
            queue["queue_name"],
            bar(queue["active_slots"], queue["concurrency_limit"], width=8),
            str(sum(1 for r in mine if r["state_type"] == "SCHEDULED")),
            str(sum(1 for r in mine if r["end_time"] is not None)),
        )
    table = Table(title="Flow runs (in creation order)", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Run", style="cyan")
    table.add_column("Queue", style="green")
    table.add_column("State")
    table.add_column("Admitted", justify="right")
    for index, run in enumerate(sorted(runs, key=lambda r: (r["created"], r["id"])), start=1):
        style = STYLES.get(run["state_type"], "white")
        position = admitted.get(run["id"])
        table.add_row(
            str(index),
            run["name"],
            run["work_queue_name"],
            f"[{style}]{run['state_name']}[/{style}]",
            f"#{position}" if position else "",
        )
    return Group(head, queues, table)


def print_summary(console: Console, summary: Summary) -> None:
    console.print()  # without a terminal the live view's last frame ends without a newline
    console.rule("[bold]Summary")
    console.print("[bold]Admitted order[/bold] (claims, first to last):")
    for line in item_lines(
        [f"{o.admitted}. {o.queue}/{o.name}" for o in summary.admitted_order],
        width=console.width - 2,
    ):
        console.print(f"  {line}", soft_wrap=True)
    waits = Table(title="Waits from the pool's resume to each claim", title_justify="left")
    waits.add_column("Priority", justify="right", style="blue")
    waits.add_column("Queue", style="green")
    waits.add_column("Limit", justify="right")
    waits.add_column("Most in use", justify="right")
    waits.add_column("Runs", justify="right")
    waits.add_column("Mean wait", justify="right")
    waits.add_column("Longest wait", justify="right")
    for queue in summary.queues:
        limit = "∞" if queue.limit is None else str(queue.limit)
        waits.add_row(
            str(queue.priority), queue.name, limit, str(queue.max_in_use), str(queue.runs),
            f"{queue.mean_wait:.1f} s", f"{queue.max_wait:.1f} s",
        )  # fmt: skip
    console.print(waits)
    console.print(
        f"Pool: at most {summary.pool_max_in_use} of {summary.pool_limit} slots in use; "
        f"every run ended after {summary.seconds:.1f} s."
        if summary.finished
        else f"[red]Not every run ended within the time allowed ({summary.seconds:.1f} s).[/red]"
    )
    states = ", ".join(
        f"[{STYLES.get(k, 'white')}]{k}[/] {v}" for k, v in sorted(summary.end_states.items())
    )
    console.print(f"End states: {states}  (one low-priority run fails on purpose: exit code 1)")


def item_lines(items: list[str], *, width: int, gap: str = "   ") -> list[str]:
    """``items`` joined by ``gap`` into lines of at most ``width`` (one longer item
    gets a line of its own): a line never breaks inside an item."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + len(gap) + len(item) <= width:
            lines[-1] += gap + item
        else:
            lines.append(item)
    return lines
