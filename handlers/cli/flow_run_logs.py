"""``pushpool flow-run logs RUN [--follow] [--tail N]``: a run's output, like Prefect's.

Without ``--follow`` the lines stored so far are printed and the command
ends.  With it, the command keeps reading after the last line's key (the
API's cursor, so no line is printed twice or skipped) until the run is in
a terminal state and reads for ``SETTLE_SECONDS`` more find nothing new
(the last lines may be shipped just after the final state), or Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import typer

from core.logs import MAX_READ_LINES
from core.states import TERMINAL
from handlers.cli.app import flow_run_app
from handlers.cli.common import Output, OutputOption, client, guard
from pushpool.client import Client

LEVELS = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
FINAL_TYPES = frozenset(t.value for t in TERMINAL)
SETTLE_SECONDS = 3.0
"""After the run ended, how long to keep reading: a worker ships a run's last
lines within a second or two of reporting its final state."""


def level_name(level: int) -> str:
    return LEVELS.get(level, f"LEVEL {level}")


def render(line: dict[str, Any]) -> str:
    """``HH:MM:SS.mmm | LEVEL    | message``, in UTC as stored."""
    at = datetime.fromisoformat(line["timestamp"]).strftime("%H:%M:%S.%f")[:-3]
    return f"{at} | {level_name(line['level']):<8} | {line['message']}"


def pages(api: Client, run_id: str, after: str | None) -> Iterator[dict[str, Any]]:
    """Every stored line after the cursor, oldest first, a page at a time."""
    while True:
        page = api.read_logs(run_id, after_key=after, limit=MAX_READ_LINES)
        yield from page
        if len(page) < MAX_READ_LINES:
            return
        after = page[-1]["key"]


@flow_run_app.command("logs")
@guard
def logs(
    run_id: str,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
    ] = False,
    tail: Annotated[
        int | None,
        typer.Option("--tail", "-n", min=1, max=MAX_READ_LINES, help="Only the last N lines."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, max=60, help="Seconds between reads.")
    ] = 1.0,
    output: OutputOption = Output.TABLE,
) -> None:
    """Show a flow run's log lines (its output and what pushpool said about it)."""
    with client() as api:
        api.read_run(run_id)  # an unknown run is a clear error, not an empty listing
        after: str | None = None
        if tail is not None:
            last = list(reversed(api.read_logs(run_id, limit=tail, newest_first=True)))
            after = _emit(last, output, after)
        else:
            after = _emit(pages(api, run_id, None), output, after)
        if follow:
            _follow(api, run_id, after, output, interval)


def _follow(api: Client, run_id: str, after: str | None, output: Output, interval: float) -> None:
    ended_at: float | None = None
    while True:
        if ended_at is None and api.read_run(run_id)["state_type"] in FINAL_TYPES:
            ended_at = time.monotonic()
        before = after
        after = _emit(pages(api, run_id, after), output, after)
        if (
            ended_at is not None
            and after == before
            and time.monotonic() - ended_at >= SETTLE_SECONDS
        ):
            return
        time.sleep(interval)


def _emit(lines: Any, output: Output, after: str | None) -> str | None:
    for line in lines:
        text = json.dumps(line) if output is Output.JSON else render(line)
        sys.stdout.write(text + "\n")
        after = line["key"]
    sys.stdout.flush()
    return after
