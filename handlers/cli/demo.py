"""``pushpool demo``: watch the waterfall admit and run 20 flow runs, locally."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from handlers.cli.app import app
from handlers.cli.common import Output, OutputOption, console, fail, guard, print_json


@app.command("demo")
@guard
def demo(
    runs: Annotated[int, typer.Option("--runs", min=1, max=200, help="How many flow runs.")] = 20,
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.0, max=60.0, help="How long each run works.")
    ] = 1.0,
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Give up after.")] = 120.0,
    output: OutputOption = Output.TABLE,
) -> None:
    """Run a process pool with three prioritised queues on an embedded stack."""
    from handlers.demo.run import run_demo  # noqa: PLC0415 (the stack loads only here)
    from handlers.demo.scenario import Scenario  # noqa: PLC0415

    quiet = output is Output.JSON
    summary = run_demo(
        Scenario(runs=runs, seconds=seconds),
        console=Console(quiet=True) if quiet else console,
        live=console.is_terminal and not quiet,
        timeout=timeout,
    )
    if quiet:
        print_json(summary.as_json())
    if not summary.finished:
        raise fail("the demo did not finish in time")
