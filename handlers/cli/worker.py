"""``pushpool worker start``: serve a pull pool from this machine.

Flags follow ``prefect worker start``.  The API URL and token come from the
usual places (``--api-url``/``--api-key``, ``PUSHPOOL_API_URL``/
``PUSHPOOL_API_KEY``, the profile); a worker token (``pushpool token create
--scope worker --pool P``) is all it needs once the pool exists.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from handlers.cli.app import worker_app
from handlers.cli.common import client, default_pool, fail, guard

if TYPE_CHECKING:
    from handlers.worker import Worker, WorkerSettings


@worker_app.command("start")
@guard
def start(
    *,
    pool: Annotated[
        str | None, typer.Option("--pool", "-p", help="The work pool to serve.")
    ] = None,
    work_queue: Annotated[
        list[str] | None,
        typer.Option("--work-queue", "-q", help="Serve only this queue (repeatable)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Worker name (default: host-pid).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", min=1, help="Most flow runs at once.")
    ] = None,
    pool_type: Annotated[
        str | None, typer.Option("--type", "-t", help="Pool type, to create a missing pool.")
    ] = None,
    prefetch_seconds: Annotated[
        float,
        typer.Option("--prefetch-seconds", min=0, help="Claim runs due this far ahead."),
    ] = 10.0,
    run_once: Annotated[
        bool, typer.Option("--run-once", help="Poll once, wait for those runs, exit.")
    ] = False,
    with_healthcheck: Annotated[
        bool, typer.Option("--with-healthcheck", help="Serve GET /health on 127.0.0.1.")
    ] = False,
    healthcheck_port: Annotated[
        int,
        typer.Option(
            "--healthcheck-port", min=0, max=65535, envvar="PUSHPOOL_WORKER_HEALTHCHECK_PORT"
        ),
    ] = 8080,
    poll_seconds: Annotated[
        float,
        typer.Option("--poll-seconds", min=0.05, envvar="PUSHPOOL_WORKER_POLL_SECONDS"),
    ] = 5.0,
    long_poll_seconds: Annotated[
        float,
        typer.Option(
            "--long-poll-seconds",
            min=0,
            max=20,
            envvar="PUSHPOOL_WORKER_LONG_POLL_SECONDS",
            help="How long the server may hold an empty poll for a run to become due (0: off).",
        ),
    ] = 10.0,
    heartbeat_seconds: Annotated[
        int,
        typer.Option("--heartbeat-seconds", min=1, envvar="PUSHPOOL_WORKER_HEARTBEAT_SECONDS"),
    ] = 30,
    watch_seconds: Annotated[
        float,
        typer.Option(
            "--watch-seconds", min=0.05, envvar="PUSHPOOL_WORKER_WATCH_SECONDS", hidden=True
        ),
    ] = 1.0,
    shutdown_grace: Annotated[
        float,
        typer.Option(
            "--shutdown-grace", min=0, help="Seconds running runs get to finish on SIGTERM."
        ),
    ] = 15.0,
) -> None:
    """Poll a pull work pool and run its flow runs here."""
    from handlers.worker import WorkerSettings  # noqa: PLC0415 (the worker loads only here)
    from handlers.worker.loop import default_name  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    settings = WorkerSettings(
        pool=default_pool(pool),
        queues=tuple(work_queue or ()),
        limit=limit,
        pool_type=pool_type,
        prefetch_seconds=prefetch_seconds,
        poll_seconds=poll_seconds,
        long_poll_seconds=long_poll_seconds,
        heartbeat_seconds=heartbeat_seconds,
        watch_seconds=watch_seconds,
        shutdown_grace_seconds=shutdown_grace,
        run_once=run_once,
        name=name or default_name(),
    )
    released = _serve(settings, healthcheck_port=healthcheck_port if with_healthcheck else None)
    for line in released:
        print(f"released on shutdown: {line}", flush=True)
    print(f"Worker {settings.name} stopped.", flush=True)


def _serve(settings: WorkerSettings, *, healthcheck_port: int | None) -> list[str]:
    """Set up, serve until stopped, and say what was handed back or stopped."""
    from handlers.worker import Worker, WorkerSetupError  # noqa: PLC0415
    from handlers.worker.health import HealthServer  # noqa: PLC0415

    with client() as api:
        worker = Worker(api, settings)
        try:
            worker.setup()
        except WorkerSetupError as exc:
            raise fail(str(exc)) from None
        health = None
        if healthcheck_port is not None:
            health = HealthServer(
                last_poll=lambda: worker.last_poll,
                poll_seconds=settings.poll_seconds,
                port=healthcheck_port,
            )
            health.start()
        _announce(worker, health.url if health else None)
        previous = _on_signals(worker.note_signal)
        try:
            return worker.run()
        finally:
            _restore(previous)
            if health is not None:
                health.stop()


def _announce(worker: Worker, health_url: str | None) -> None:
    settings = worker.settings
    queues = ", ".join(settings.queues) if settings.queues else "all queues"
    limit = f", at most {settings.limit} at once" if settings.limit else ""
    print(
        f"Worker {settings.name} serving work pool {settings.pool!r} "
        f"(type {worker.pool['type']}, {queues}{limit}); polling every {settings.poll_seconds:g} s.",
        flush=True,
    )
    if health_url:
        print(f"healthcheck at {health_url}", flush=True)


def _on_signals(stop: Any) -> dict[int, Any]:
    """SIGTERM/SIGINT stop claiming and start the graceful shutdown; a second
    one skips the grace period."""

    def handler(signum: int, frame: Any) -> None:
        stop()  # lock-free: this may interrupt a thread holding any lock, print's included

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
