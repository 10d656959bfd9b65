"""``pushpool server``: the API, tick and dispatch loops in one process."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from handlers.cli.app import app
from handlers.cli.common import guard
from pushpool.defaults import DEFAULT_HOST, DEFAULT_PORT


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command("server")
@guard
def server(  # noqa: PLR0917 (Typer options)
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = DEFAULT_PORT,
    store: Annotated[
        str | None,
        typer.Option("--store", help="sqlite:///path or dynamodb://TABLE (default: a local file)."),
    ] = None,
    auth: Annotated[
        bool, typer.Option("--auth", help="Require bearer tokens (needed off loopback).")
    ] = False,
    with_worker: Annotated[
        bool, typer.Option("--with-worker", help="Also run process pools' flow runs here.")
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            case_sensitive=False,
            help="text (readable, the default) or json (one object a line, as on Lambda).",
        ),
    ] = LogFormat.TEXT,
) -> None:
    """Serve the API with the tick and dispatch loops on one machine."""
    from handlers.local.server import serve  # noqa: PLC0415 (uvicorn and the API load only here)

    serve(
        host=host,
        port=port,
        store_url=store,
        auth=auth,
        with_worker=with_worker,
        log_json=log_format is LogFormat.JSON,
    )
