"""``pushpool token create`` and ``pushpool config``.

``token create`` writes straight into the store: that is how the first admin
token exists before any API call can be authenticated.  The token is shown
once, on the last line of the output; only its hash is stored.
"""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.markup import escape

from core.services.auth import create_token
from core.store import describe_store, open_store
from handlers.bootstrap import Settings
from handlers.cli.app import app, token_app
from handlers.cli.common import console, guard, load_profile, print_json, profile_path, save_profile
from handlers.cli.deployments import parse_duration
from handlers.clock import new_id, utc_now

config_app = typer.Typer(help="Set the API URL and key this CLI uses.", no_args_is_help=True)
app.add_typer(config_app, name="config")

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (sqlite:///path or dynamodb://TABLE); default PUSHPOOL_STORE."
    ),
]


@token_app.command("create")
@guard
def create(
    scope: Annotated[str, typer.Option("--scope", help="admin, worker or run.")] = "admin",
    pool: Annotated[str | None, typer.Option("--pool", help="The pool of a worker token.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="The flow run of a run token.")] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="e.g. 30d; never expires when omitted.")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Create an API token directly in the store and print it (last line)."""
    settings = Settings.from_env()
    store_url = store or settings.store_url
    backend = open_store(store_url)
    if pool is not None:
        backend.get_pool(pool)
    if run is not None:
        backend.get_run(run)
    now = utc_now()
    bearer = create_token(
        backend,
        scope=scope,
        secret=secrets.token_urlsafe(32),
        token_id=new_id(),
        now=now,
        pool_name=pool,
        run_id=run,
        expires=now + parse_duration(expires_in) if expires_in else None,
    )
    target = f" for work pool {pool!r}" if pool else f" for flow run {run}" if run else ""
    article = "an" if scope[:1].lower() in "aeiou" else "a"
    where = escape(describe_store(store_url))
    console.print(f"Created {article} {scope} token{target} in {where}. It is shown only once:")
    print(bearer)


@config_app.command("set")
@guard
def set_value(
    key: Annotated[str, typer.Argument(help="api-url, api-key or default-work-pool.")],
    value: str,
) -> None:
    """Store a setting in the profile file."""
    names = {"api-url": "api_url", "api-key": "api_key", "default-work-pool": "default_work_pool"}
    if key not in names:
        raise ValueError(f"unknown setting {key!r}; use one of {', '.join(names)}")
    path = save_profile({names[key]: value})
    console.print(f"Set {key} in {path}.")


@config_app.command("unset")
@guard
def unset_value(key: str) -> None:
    """Remove a setting from the profile file."""
    names = {"api-url": "api_url", "api-key": "api_key", "default-work-pool": "default_work_pool"}
    if key not in names:
        raise ValueError(f"unknown setting {key!r}; use one of {', '.join(names)}")
    path = save_profile({names[key]: None})
    console.print(f"Unset {key} in {path}.")


@config_app.command("view")
@guard
def view() -> None:
    """Show the profile file (the API key masked)."""
    data = load_profile()
    if "api_key" in data:
        data["api_key"] = data["api_key"][:6] + "…"
    print_json({"profile": str(profile_path()), **data})
