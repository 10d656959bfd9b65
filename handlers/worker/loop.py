"""The pull worker: heartbeat, poll, claim, start, watch, stop cleanly.

It talks to the API only, through its port (``handlers.worker.api``: the
HTTP client with a worker-scoped token, or the server's in-process adapter
with the same rights), exactly as a worker on another machine or cluster
would; it never opens the store.  Each poll asks ``get_scheduled_flow_runs``
what the waterfall releases for its queues, claims in that order by proposing PENDING (the
API's atomic claim: a refusal means another worker or a limit got there
first), and hands each accepted claim to a ``Starter`` thread.  A
``Monitor`` pass every ``watch_seconds`` reports RUNNING, final states and
cancellations.  A place freed in the worker's own ``--limit`` triggers the
next poll at once instead of after ``poll_seconds``.

Polls long-poll (``long_poll_seconds``): the local server holds an empty
answer until a run of the pool may be due, so a run created now is claimed
at once; a server that answers at once (Lambda) is polled every
``poll_seconds`` as before.  The poll runs in its own thread and claims
nothing, so a stop abandons it instead of waiting for its answer.

Stopping (SIGTERM/SIGINT, or ``request_stop``): no more claims; claimed runs
not yet started are handed back to SCHEDULED; started runs get
``shutdown_grace_seconds`` to finish, then are stopped and reported CRASHED,
so no claim outlives the worker holding a slot.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.ports import Clock, PoolTypes, Provider
from core.rules.timeouts import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    HEARTBEAT_TIMEOUT_VARIABLE,
    template_seconds,
)
from handlers.clock import utc_now
from handlers.worker.api import WorkerApi
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.logs import LogShipper
from handlers.worker.monitor import Monitor
from handlers.worker.reconcile import end_previous_claims
from handlers.worker.reporter import Reporter
from handlers.worker.setup import ensure_pool, ensure_queues
from handlers.worker.starter import Starter, StartPolicy
from pushpool.client import ApiError

log = logging.getLogger("pushpool.worker")

STARTER_WAIT_SECONDS = 5.0
THREAD_JOIN_SECONDS = 10.0
SIGNAL_CHECK_SECONDS = 0.1


def default_name() -> str:
    """Unique per process on a host, readable in ``work-pool inspect``."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerSettings:
    pool: str
    queues: tuple[str, ...] = ()  # empty: every queue of the pool
    name: str = field(default_factory=default_name)
    limit: int | None = None
    pool_type: str | None = None  # used to create a missing pool, checked otherwise
    prefetch_seconds: float = 10.0
    poll_seconds: float = 5.0  # Prefect's workers poll every 10 s
    long_poll_seconds: float = 10.0  # 0: plain polls
    heartbeat_seconds: int = 30
    watch_seconds: float = 1.0
    shutdown_grace_seconds: float = 15.0
    run_once: bool = False
    start: StartPolicy = field(default_factory=StartPolicy)


class Worker:
    """One worker serving one pull pool (``pushpool worker start``)."""

    def __init__(
        self,
        client: WorkerApi,
        settings: WorkerSettings,
        *,
        provider: Provider | None = None,
        provider_options: Mapping[str, Any] | None = None,
        types: PoolTypes | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self._types = types
        self._provider = provider
        self._provider_options = dict(provider_options or {})
        self._provider_lock = threading.Lock()
        self.pool: Mapping[str, Any] = {}  # the WorkPool, once setup() has read it
        self.ledger = Ledger(settings.limit)
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._hurry = threading.Event()  # a second signal: skip the grace period
        self._signals = 0
        self._signals_seen = 0
        self._threads: list[threading.Thread] = []
        self.last_poll = time.monotonic()
        self.reconciled: list[str] = []  # runs an earlier life of this worker left, ended
        self.reporter = Reporter(client, settings.name)
        self.starter = Starter(
            client=client,
            reporter=self.reporter,
            provider=self.provider,
            ledger=self.ledger,
            stopping=self.stopping,
            policy=settings.start,
            clock=clock,
        )
        self.monitor = Monitor(
            client=client,
            reporter=self.reporter,
            provider=self.provider,
            ledger=self.ledger,
            clock=clock,
        )
        self.logs = LogShipper(client, provider=self.provider, ledger=self.ledger, clock=clock)

    # -- collaborators ------------------------------------------------------------------
    @property
    def types(self) -> PoolTypes:
        if self._types is None:
            from providers.registry import REGISTRY  # noqa: PLC0415 (pure data, loaded on use)

            self._types = REGISTRY
        return self._types

    def provider(self) -> Provider:
        """The pool type's provider, loaded (and its SDK imported) on first use."""
        with self._provider_lock:
            if self._provider is None:
                from providers.registry import load_provider  # noqa: PLC0415

                self._provider = load_provider(self.pool["type"], **self._provider_options)
            return self._provider

    # -- lifecycle ----------------------------------------------------------------------
    def setup(self) -> None:
        """Pool and queues exist, the provider loads, the first heartbeat is in."""
        self.pool = ensure_pool(
            self.client, self.settings.pool, pool_type=self.settings.pool_type, types=self.types
        )
        ensure_queues(self.client, self.settings.pool, self.settings.queues)
        self.provider()
        self.heartbeat()
        self.reconciled = end_previous_claims(
            self.client, self.reporter, self.provider, self.settings.pool
        )

    @property
    def heartbeat_seconds(self) -> int:
        """Three beats fit in the pool's heartbeat timeout, so one lost beat
        never makes the reaper take this worker for dead."""
        template = self.pool.get("base_job_template") or {}
        timeout = template_seconds(template, (HEARTBEAT_TIMEOUT_VARIABLE,))
        if timeout is None:
            timeout = DEFAULT_HEARTBEAT_TIMEOUT.total_seconds()
        return max(1, min(self.settings.heartbeat_seconds, int(timeout / 3)))

    def run(self) -> list[str]:
        """Serve until stopped (or one cycle with ``run_once``); returns a line per
        run changed at shutdown.  Call ``setup`` first, or let this do it."""
        if not self.pool:
            self.setup()
        self._spawn(self._heartbeat_loop, "heartbeat")
        self._spawn(self._monitor_loop, "monitor")
        self._spawn(lambda: self.logs.run(self.stopped), "logs")
        try:
            if self.settings.run_once:
                self.poll_once()
                self._wait_for_work(deadline=None, until_stopping=True)
            else:
                self._poll_loop()
            return self._shut_down()
        finally:
            self.stopped.set()
            for thread in self._threads:
                thread.join(THREAD_JOIN_SECONDS)
            self._threads.clear()

    def request_stop(self, *, hurry: bool = False) -> None:
        """Stop claiming; a second request (or ``hurry``) skips the grace period."""
        if self.stopping.is_set() or hurry:
            self._hurry.set()
        self.stopping.set()
        self.ledger.freed.set()  # wake the poll loop

    def note_signal(self) -> None:
        """For a signal handler: takes no lock (the interrupted thread may hold
        one), just counts; the main loop turns it into ``request_stop``."""
        self._signals += 1

    def _take_signals(self) -> None:
        while self._signals > self._signals_seen:
            self._signals_seen += 1
            if self.stopping.is_set():
                log.info("stopping now: running runs are stopped without waiting")
            else:
                log.info("stopping: no new claims; a second signal skips the grace period")
            self.request_stop()

    def _pause(self, seconds: float) -> None:
        """Wait up to ``seconds`` for a freed place, in short slices so a noted
        signal is acted on promptly."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            self._take_signals()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.ledger.freed.wait(min(remaining, SIGNAL_CHECK_SECONDS)):
                break
        self.ledger.freed.clear()
        self._take_signals()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=f"worker-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- loops --------------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            claimed = 0
            try:
                claimed = self.poll_once()
            except Exception:  # a bug or a malformed answer: the next poll may do better
                log.exception("the poll of work pool %r failed", self.settings.pool)
            if self._long_poll_wait() > 0:
                # The server held the poll (or runs came): poll again at once.
                # One answering at once gets the usual interval, not a busy loop.
                waited = time.monotonic() - started
                self._pause(0 if claimed else max(self.settings.poll_seconds - waited, 0))
            else:
                self._pause(self.settings.poll_seconds)

    def _long_poll_wait(self) -> float:
        """How long the next poll may be held: not at all when the worker is
        full (it polls only to stay READY, and a freed place wakes it), nor
        with ``run_once`` (one look at what is due now)."""
        if self.settings.run_once or self.ledger.free() == 0:
            return 0.0
        return self.settings.long_poll_seconds

    def _heartbeat_loop(self) -> None:
        # A heartbeat thread that died would get every run of this live worker
        # crashed by the reaper: whatever fails, the next beat is tried.
        while not self.stopped.wait(self.heartbeat_seconds):
            try:
                self.heartbeat()
            except Exception:
                log.exception("the heartbeat failed; trying again in %d s", self.heartbeat_seconds)

    def _monitor_loop(self) -> None:
        while not self.stopped.wait(self.settings.watch_seconds):
            try:
                self.monitor.tick()
            except Exception:
                log.exception("the monitor pass failed; retrying on the next one")

    def heartbeat(self) -> None:
        try:
            self.client.heartbeat(
                self.settings.pool,
                self.settings.name,
                interval_seconds=self.heartbeat_seconds,
            )
        except ApiError as exc:
            log.warning("heartbeat failed: %s", exc.detail)

    def wake(self) -> None:
        """Poll now (a run was created, a slot freed elsewhere)."""
        self.ledger.freed.set()

    # -- one poll -----------------------------------------------------------------------
    def poll_once(self) -> int:
        """Claim what the waterfall releases now, up to the free places; start each
        claimed run in its own thread.  Returns how many were claimed.

        A worker at its limit still polls (for nothing): the poll is what keeps
        its queues READY and its health check green while it is busy.
        """
        free = self.ledger.free()
        if self.stopping.is_set():
            return 0
        try:
            offered = self._fetch(
                functools.partial(
                    self.client.get_scheduled_flow_runs,
                    self.settings.pool,
                    queue_names=list(self.settings.queues) or None,
                    scheduled_before=self.clock()
                    + timedelta(seconds=self.settings.prefetch_seconds),
                    limit=free,
                    wait_seconds=self._long_poll_wait(),
                )
            )
        except ApiError as exc:
            log.warning("polling work pool %r failed: %s", self.settings.pool, exc.detail)
            return 0
        self.last_poll = time.monotonic()
        claimed = 0
        for item in offered:
            if self.stopping.is_set() or self.ledger.free() == 0:
                break
            try:
                claimed += self._claim(item["flow_run"])
            except (KeyError, TypeError, ValueError) as exc:  # one malformed run, not the rest
                log.warning("skipping an offered run the worker cannot read: %r", exc)
        return claimed

    def _fetch(self, call: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """The poll's answer, in a daemon thread watched in short slices: a stop
        abandons a held poll (it claimed nothing) and the process may exit."""
        answer: list[Any] = []

        def fetch() -> None:
            try:
                answer.append(call())
            except BaseException as exc:  # handed to the polling thread below
                answer.append(exc)

        thread = threading.Thread(target=fetch, name="worker-poll", daemon=True)
        thread.start()
        while thread.is_alive():
            self._take_signals()
            if self.stopping.is_set():
                return []
            thread.join(SIGNAL_CHECK_SECONDS)
        if isinstance(answer[0], BaseException):
            raise answer[0]
        result: list[dict[str, Any]] = answer[0]
        return result

    def _claim(self, run: dict[str, Any]) -> bool:
        try:
            accepted = self.reporter.claim((run["id"], run["attempt"]))
        except ApiError as exc:
            log.warning("claiming run %s failed: %s", run["id"], exc.detail)
            return False
        if not accepted:
            return False
        execution = Execution(
            run_id=run["id"],
            attempt=run["attempt"],
            run_name=run["name"],
            scheduled_time=_time(run["expected_start_time"]),
        )
        self.ledger.add(execution)
        log.info("claimed run %s (%s)", execution.run_name, execution.run_id)
        threading.Thread(
            target=self.starter.start, args=(execution,), name=f"start-{run['id']}", daemon=True
        ).start()
        return True

    # -- shutdown -----------------------------------------------------------------------
    def _wait_for_work(self, *, deadline: float | None, until_stopping: bool = False) -> None:
        """Until nothing is held, the deadline passes, a stop is requested (when
        ``until_stopping``) or a second signal hurries us."""
        while len(self.ledger) and not self._hurry.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            if until_stopping and self.stopping.is_set():
                return
            self.ledger.freed.wait(SIGNAL_CHECK_SECONDS)
            self.ledger.freed.clear()
            self._take_signals()

    def _shut_down(self) -> list[str]:
        self.stopping.set()  # run-once ends here too: starters hand back, nothing new starts
        if len(self.ledger):
            log.info(
                "stopping: waiting up to %.0f s for %d run(s)",
                self.settings.shutdown_grace_seconds,
                len(self.ledger),
            )
        self._wait_for_work(deadline=time.monotonic() + self.settings.shutdown_grace_seconds)
        message = f"The worker {self.settings.name} stopped before the run finished."
        lines = self.monitor.abandon(message)
        # Starters still inside a submit call hand back what they hold, or record
        # what they started: that is stopped like the rest.
        self._wait_for_work(deadline=time.monotonic() + STARTER_WAIT_SECONDS)
        return lines + self.monitor.abandon(message) + self.starter.handed_back


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
