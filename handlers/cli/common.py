"""What every CLI command shares: where the API is, the profile file, error
handling (one line, non-zero exit, never a traceback) and ``-o json``.

The API URL and key come from, in order: ``--api-url``/``--api-key``, the
environment (``PUSHPOOL_API_URL``, ``PUSHPOOL_API_KEY``), the profile file
(``pushpool config set``), then the local server's default address.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from core.errors import PushpoolError
from handlers.cli.app import app
from pushpool.client import ApiError, Client
from pushpool.defaults import DEFAULT_API_URL

P = ParamSpec("P")
R = TypeVar("R")

console = Console()
errors = Console(stderr=True)


class Output(StrEnum):
    TABLE = "table"
    JSON = "json"


class Cli:
    """Options given on the command line before the command (``pushpool --api-url ...``)."""

    api_url: str | None = None
    api_key: str | None = None


def _output_or_root(ctx: typer.Context, param: typer.CallbackParam, value: Output) -> Output:
    """A command's ``-o`` wins; without one, ``pushpool -o json COMMAND`` applies."""
    source = ctx.get_parameter_source(param.name or "")
    # By name: typer ships its own copy of click, with its own ParameterSource.
    given = source is not None and source.name != "DEFAULT"
    # Read from the root context, parsed before any subcommand (the root
    # callback itself may run later than this one).
    root = ctx.find_root().params.get("output")
    return Output(value if given or root is None else root)


OutputOption = Annotated[
    Output,
    typer.Option(
        "--output",
        "-o",
        help="table (default) or json.",
        case_sensitive=False,
        callback=_output_or_root,
    ),
]


@app.callback()
def root(
    api_url: Annotated[
        str | None, typer.Option("--api-url", help=f"The API, e.g. {DEFAULT_API_URL}.")
    ] = None,
    api_key: Annotated[str | None, typer.Option("--api-key", help="A bearer token.")] = None,
    # Not used here: each command's -o reads it from the root context.
    output: Annotated[
        Output | None,
        typer.Option(
            "--output",
            "-o",
            help="table or json, for every command that prints data.",
            case_sensitive=False,
        ),
    ] = None,
) -> None:
    """Serverless work pools and work queues."""
    Cli.api_url = api_url
    Cli.api_key = api_key


def profile_path() -> Path:
    explicit = os.environ.get("PUSHPOOL_PROFILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pushpool" / "profile.json"


def load_profile() -> dict[str, Any]:
    path = profile_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"the profile file {path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def save_profile(changes: dict[str, Any]) -> Path:
    path = profile_path()
    data = load_profile() | changes
    data = {k: v for k, v in data.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    if "api_key" in data:
        path.chmod(0o600)
    return path


def api_url() -> str:
    return (
        Cli.api_url
        or os.environ.get("PUSHPOOL_API_URL")
        or load_profile().get("api_url")
        or DEFAULT_API_URL
    )


def client() -> Client:
    key = Cli.api_key or os.environ.get("PUSHPOOL_API_KEY") or load_profile().get("api_key")
    return Client(api_url(), api_key=key)


def default_pool(pool: str | None) -> str:
    """The ``--pool`` given, else the profile's default pool (``--set-as-default``)."""
    chosen = pool or load_profile().get("default_work_pool")
    if not chosen:
        raise typer.BadParameter(
            "name the work pool with --pool (or set a default: work-pool create --set-as-default)"
        )
    return str(chosen)


def fail(message: str) -> typer.Exit:
    errors.print(f"[red]Error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def guard(command: Callable[P, R]) -> Callable[P, R]:
    """Turn every expected failure into one clear line and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            raise fail(exc.detail) from None
        except PushpoolError as exc:
            raise fail(exc.detail) from None
        except (OSError, ValueError) as exc:
            raise fail(str(exc) or exc.__class__.__name__) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
