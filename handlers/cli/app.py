"""The Typer application and its command groups.

Command modules import these apps and register commands on them; ``main``
imports every command module so the groups are complete.  Keeping the groups
here lets each area (templates, pools, runs, worker) live in its own module.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pushpool",
    help="Serverless work pools and work queues.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
work_pool_app = typer.Typer(help="Manage work pools.", no_args_is_help=True)
work_queue_app = typer.Typer(help="Manage work queues.", no_args_is_help=True)
deployment_app = typer.Typer(help="Manage deployments.", no_args_is_help=True)
flow_run_app = typer.Typer(help="Inspect and cancel flow runs.", no_args_is_help=True)
worker_app = typer.Typer(help="Run a pull worker.", no_args_is_help=True)
store_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)

app.add_typer(work_pool_app, name="work-pool")
app.add_typer(work_queue_app, name="work-queue")
app.add_typer(deployment_app, name="deployment")
app.add_typer(flow_run_app, name="flow-run")
app.add_typer(worker_app, name="worker")
app.add_typer(store_app, name="store")
app.add_typer(token_app, name="token")
