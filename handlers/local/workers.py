"""``pushpool server --with-worker``: the pull worker, inside the server process.

One mechanism, not two: these are the very ``handlers.worker.Worker``
objects ``pushpool worker start`` runs, one per process pool, claiming,
starting, watching and handing back through the worker's API port like any
worker.  Only the adapter behind the port differs: ``InProcessApi``
(``handlers.local.worker_api``) calls the services in this process, with
the authorization a worker token of the pool would have, so the workers
need no socket and no token in the store, and keep working while uvicorn
shuts down, which is when they hand their claims back.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import PushpoolError
from core.models import WorkPool
from handlers.bootstrap import Container
from handlers.local.worker_api import InProcessApi
from handlers.worker import Worker, WorkerSettings, WorkerSetupError

log = logging.getLogger("pushpool.local")

SERVED_TYPES = frozenset({"process"})
PREFETCH_SECONDS = 1.0


@dataclass
class _Served:
    worker: Worker
    thread: threading.Thread
    released: list[str]


class LocalWorkers:
    """A worker for every pool of the served types; new pools get one at the
    next ``sync``, deleted pools lose theirs."""

    def __init__(
        self,
        container: Container,
        *,
        types: Iterable[str] = SERVED_TYPES,
        poll_seconds: float = 5.0,
        watch_seconds: float = 0.25,
    ) -> None:
        self.container = container
        self.types = frozenset(types)
        self.name = f"local-{socket.gethostname()}"
        self.poll_seconds = poll_seconds
        self.watch_seconds = watch_seconds
        self._lock = threading.Lock()
        self._served: dict[str, _Served] = {}
        self._closed = False

    def sync(self) -> None:
        """Start workers for new pools of the served types, stop those of deleted pools."""
        try:
            pools = [p for p in self.container.store.list_pools() if p.type in self.types]
        except PushpoolError as exc:
            log.warning("local workers: cannot list pools: %s", exc)
            return
        names = {p.name for p in pools}
        with self._lock:
            if self._closed:
                return
            for pool in pools:
                if pool.name not in self._served or not self._served[pool.name].thread.is_alive():
                    self._served[pool.name] = self._start(pool.name, pool.type)
            gone = [name for name in self._served if name not in names]
            stopping = [self._served.pop(name) for name in gone]
        for served in stopping:
            served.worker.request_stop(hurry=True)

    def wake(self, pool: WorkPool) -> None:
        """A run of ``pool`` was created or came due, or a slot freed: its worker
        polls now instead of at its next interval (a pool created since the last
        sync gets one first)."""
        if pool.type not in self.types:
            return
        with self._lock:
            served = self._served.get(pool.name)
        if served is None:
            self.sync()
            with self._lock:
                served = self._served.get(pool.name)
        if served is not None:
            served.worker.wake()

    def stop(self, *, timeout: float = 30.0) -> list[str]:
        """Stop every worker: unstarted claims go back to SCHEDULED, running
        runs are stopped and CRASHED.  Returns a line per run changed."""
        with self._lock:
            self._closed = True
            served = list(self._served.values())
            self._served.clear()
        for item in served:
            item.worker.request_stop()  # the grace is 0: running runs stop at once
        lines: list[str] = []
        for item in served:
            item.thread.join(timeout)
            item.worker.client.close()
            lines.extend(item.released)
        return lines

    def _start(self, pool_name: str, pool_type: str) -> _Served:
        api = InProcessApi(self.container, pool_name)
        settings = WorkerSettings(
            pool=pool_name,
            name=self.name,
            poll_seconds=self.poll_seconds,
            watch_seconds=self.watch_seconds,
            # Woken at each run's due second by the trigger, as the dispatcher is,
            # so there is nothing to fetch early for (the dispatcher's window).
            prefetch_seconds=PREFETCH_SECONDS,
            # ``wake`` wakes it directly: no long-poll to hold a
            # parking place (and an API thread) per pool.
            long_poll_seconds=0.0,
            shutdown_grace_seconds=0.0,
        )
        worker = Worker(api, settings, provider=self.container.provider(pool_type))
        released: list[str] = []

        def serve() -> None:
            try:
                released.extend(worker.run())
            except WorkerSetupError as exc:  # the pool went away while starting
                log.warning("local worker for %s: %s", pool_name, exc)
            except Exception:
                log.exception("the local worker for %s failed", pool_name)

        thread = threading.Thread(target=serve, name=f"pushpool-worker-{pool_name}", daemon=True)
        thread.start()
        return _Served(worker=worker, thread=thread, released=released)
