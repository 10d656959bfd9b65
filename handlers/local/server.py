"""``pushpool server``: the API under uvicorn plus the local loops, one process.

The API is the same resolver API Gateway serves (through ``handlers.local.asgi``);
the loops are ``handlers.local.loops.LocalStack``.  Without ``--auth`` the API is
open, so it only binds loopback addresses.  SIGINT/SIGTERM stop uvicorn,
then the loops, then hand back every claim this process held.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn

from core.errors import InvalidInput
from core.ports import Provider
from core.store import describe_store
from handlers.bootstrap import Container, Settings, bootstrap
from handlers.clock import utc_now
from handlers.local.asgi import ApiApp
from handlers.local.loops import LocalStack, LocalTrigger
from handlers.observability import configure_logging
from pushpool.defaults import DEFAULT_HOST, DEFAULT_PORT

log = logging.getLogger("pushpool.server")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, *, auth: bool) -> None:
    if not auth and not is_loopback(host):
        raise InvalidInput(
            f"refusing to serve an open API on {host}: add --auth (and create a token with "
            "'pushpool token create --scope admin'), or bind 127.0.0.1",
            path="host",
        )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, made with an explicit ``IPPROTO_TCP``.

    asyncio switches Nagle's algorithm off only on sockets whose ``proto``
    says TCP, and accepted sockets inherit the listener's: with ``proto`` 0,
    every answer written in two parts (headers, body) waited for the
    client's delayed ACK, 40 ms a request (found by the load test, issue 9).
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(128)
    return sock


def api_url_for(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/api"


@dataclass
class Stack:
    """A built local stack: the container, its trigger and loops, the socket."""

    container: Container
    loops: LocalStack
    sock: socket.socket
    url: str


def build(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    store_url: str | None = None,
    auth: bool = False,
    with_worker: bool = False,
    tick_seconds: float = 5.0,
    settings: Settings | None = None,
    providers: Mapping[str, Provider] | None = None,
) -> Stack:
    """Bind the socket, then build the container around the URL it gives."""
    check_exposure(host, auth=auth)
    sock = bind(host, port)
    url = api_url_for(sock, host)
    base = settings or Settings.from_env()
    configured = base.with_(store_url=store_url or base.store_url, api_url=url, auth=auth)
    trigger = LocalTrigger(utc_now)
    container = bootstrap(settings=configured, trigger=trigger, providers=providers)
    workers = None
    if with_worker:
        from handlers.local.workers import LocalWorkers  # noqa: PLC0415

        workers = LocalWorkers(container)
    loops = LocalStack(container, trigger, workers=workers, tick_seconds=tick_seconds)
    return Stack(container=container, loops=loops, sock=sock, url=url)


class BackgroundServer:
    """The API on a bound socket in a thread (tests and ``pushpool demo``)."""

    def __init__(self, container: Container, sock: socket.socket) -> None:
        self.app = ApiApp(container)
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="pushpool-api", daemon=True
        )

    def start(self, timeout: float = 10.0) -> None:
        self.thread.start()
        deadline = threading.Event()
        for _ in range(int(timeout * 100)):
            if self.server.started:
                return
            deadline.wait(0.01)
        raise RuntimeError("the API server did not start")

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


class _Server(uvicorn.Server):
    """uvicorn that releases parked long-polls as it begins to stop: its
    graceful shutdown waits for requests in flight, and a held poll would
    keep it waiting up to its full wait."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler takes no lock the interrupted thread may hold.
        threading.Thread(target=self._on_exit, name="pushpool-release-polls").start()
        super().handle_exit(sig, frame)


def _note_signals() -> dict[int, Any]:
    """Handlers that only note SIGINT/SIGTERM.

    uvicorn shuts down on these, then re-raises the signal with the handler
    that was installed before it; with the default one the process would die
    right there, before the claims it holds are handed back.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def serve(
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    store_url: str | None = None,
    auth: bool = False,
    with_worker: bool = False,
    announce: bool = True,
    log_json: bool = False,
) -> list[str]:
    """Run until SIGINT/SIGTERM; returns the lines describing released claims.

    pushpool's log lines go to stderr, readable or (``log_json``) as JSON
    objects shaped like the Lambda functions' (``handlers.observability``).
    """
    configure_logging(json_lines=log_json, stderr=True)
    stack = build(host=host, port=port, store_url=store_url, auth=auth, with_worker=with_worker)
    settings = stack.container.settings
    stack.container.store  # open (and create) the store before taking requests  # noqa: B018
    if announce:
        print(f"pushpool API at {stack.url} (Swagger UI: {stack.url}/docs)", flush=True)
        print(f"web UI: {stack.url.removesuffix('/api')}/", flush=True)
        print(f"store: {settings.store_url} ({describe_store(settings.store_url)})", flush=True)
        if auth:
            print(
                "auth: bearer tokens required; create one with "
                f"'pushpool token create --scope admin --store {settings.store_url}'",
                flush=True,
            )
        else:
            print("auth: off (loopback only)", flush=True)
        if with_worker:
            print("process pools: served by this process (--with-worker)", flush=True)
    config = uvicorn.Config(
        ApiApp(stack.container), log_level="warning", lifespan="off", timeout_graceful_shutdown=5
    )
    server = _Server(config, stack.loops.trigger.wakeups.close)
    stack.loops.start()
    previous = _note_signals()
    try:
        server.run(sockets=[stack.sock])
    finally:
        released = stack.loops.stop()
        stack.sock.close()
        _restore_signals(previous)
    if announce:
        for line in released:
            print(f"released on shutdown: {line}", flush=True)
        print("pushpool server stopped.", flush=True)
    return released
