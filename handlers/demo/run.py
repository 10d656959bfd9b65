"""Running the demo: the embedded stack, the scenario through the real API,
the live view while the waterfall admits the runs, then the summary.

Everything a user would deploy runs here for real: the API under uvicorn
(with bearer tokens), the dispatch/tick/observe loops, SQLite, and one
subprocess per flow run started by the process provider.  Only the storage
location is temporary.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from core.ports import Store
from core.services.auth import create_token
from handlers.bootstrap import Settings
from handlers.clock import new_id, utc_now
from handlers.demo.scenario import (
    DEPLOYMENT,
    FLOW,
    POOL,
    Scenario,
    Summary,
    claim_order,
    summarise,
)
from handlers.demo.view import live_view, print_summary
from handlers.local.server import BackgroundServer, Stack, build
from pushpool.client import Client
from pushpool.types import FlowRun


def set_up(api: Client, scenario: Scenario) -> list[FlowRun]:
    """Pool (paused while the runs are created), queues, deployment, runs."""
    api.create_pool(
        name=POOL, type="process", concurrency_limit=scenario.pool_limit, is_paused=True,
        description="pushpool demo: three queues under one limit",
    )  # fmt: skip
    for queue in scenario.queues:
        api.create_queue(
            POOL, name=queue.name, priority=queue.priority, concurrency_limit=queue.limit
        )
    flow = api.create_flow(FLOW)
    deployment = api.create_deployment(
        {
            "name": DEPLOYMENT,
            "flow_id": flow["id"],
            "work_pool_name": POOL,
            "command": scenario.command(),
            "parameters": {"seconds": scenario.seconds},
            "job_variables": {"stream_output": False},
        }
    )
    return [
        api.create_flow_run(
            deployment["id"],
            work_queue_name=scenario.queue_of(index),
            parameters={"fail": True} if scenario.fails(index) else {},
        )
        for index in range(scenario.runs)
    ]


def _watch(
    api: Client, store: Store, scenario: Scenario, console: Console, *, live: bool, timeout: float
) -> None:
    started = time.monotonic()
    pool_id = store.get_pool(POOL).id

    def frame() -> Any:
        runs = api.list_runs(work_pools={"name": {"any_": [POOL]}}, limit=1000)
        status = api.concurrency_status(POOL)
        # The claim order from the runs' histories, exactly as the summary reads it.
        admitted = claim_order(store.list_runs(pool_id=pool_id, limit=10_000), scenario)
        return runs, live_view(runs, status, admitted, scenario, time.monotonic() - started)

    def finished(runs: list[FlowRun]) -> bool:
        return all(r["end_time"] is not None for r in runs)

    runs, view = frame()
    with Live(
        view, console=console, refresh_per_second=8, transient=False, auto_refresh=live
    ) as screen:
        while not finished(runs) and time.monotonic() - started < timeout:
            time.sleep(0.2)
            runs, view = frame()
            screen.update(view, refresh=live)


@contextmanager
def embedded_stack(workdir: Path) -> Iterator[Stack]:
    """API (with tokens), loops and a process worker on a SQLite file in ``workdir``."""
    store_url = f"sqlite:///{workdir / 'demo.db'}"
    stack = build(
        port=0,
        store_url=store_url,
        auth=True,
        with_worker=True,
        tick_seconds=1.0,
        settings=Settings(store_url=store_url),
    )
    server = BackgroundServer(stack.container, stack.sock)
    server.start()
    stack.loops.start()
    try:
        yield stack
    finally:
        stack.loops.stop()
        server.stop()


def run_demo(
    scenario: Scenario | None = None,
    *,
    console: Console | None = None,
    live: bool = True,
    timeout: float = 120.0,
    workdir: Path | None = None,
) -> Summary:
    """Run the scenario on a fresh embedded stack; return what happened."""
    scenario = scenario or Scenario()
    console = console or Console()
    with (
        tempfile.TemporaryDirectory(prefix="pushpool-demo-") as tmp,
        embedded_stack(Path(workdir or tmp)) as stack,
    ):
        store = stack.container.store
        admin = create_token(
            store, scope="admin", secret=secrets.token_urlsafe(32), token_id=new_id(), now=utc_now()
        )
        with Client(stack.url, api_key=admin) as api:
            set_up(api, scenario)
            released_at = utc_now()
            api.update_pool(POOL, is_paused=False)
            console.print(
                f"[bold]pushpool demo[/bold]: API at {stack.url}; {scenario.runs} runs queued "
                "in a paused pool, now resumed."
            )
            _watch(api, store, scenario, console, live=live, timeout=timeout)
        summary = summarise(store, scenario, pool_name=POOL, released_at=released_at, now=utc_now())
    print_summary(console, summary)
    return summary
