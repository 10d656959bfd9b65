"""The local control plane: what Lambda, SQS and EventBridge do in the cloud,
done by threads in one process for ``pushpool server`` and ``pushpool demo``.

* ``LocalTrigger`` is the in-process ``DispatchTrigger``: a run created now,
  a slot released or a pool unpaused wakes the dispatch loop at once (the
  cloud sends an SQS message instead); a run due later wakes it at its
  second.  Each wake-up also releases the pool's long-polls
  (``handlers.wakeups``), so a separate pull worker hears of it too.
* the dispatch loop runs ``Dispatcher.dispatch`` for each woken push or
  managed pool; a woken pull pool has no pass (its runs are for workers to
  claim), its local worker is woken instead;
* the tick loop runs ``Ticker.tick`` (schedules, Late, reaper, polls) and
  turns its dispatch requests into wake-ups;
* the observe loop polls submitted runs of the pools served here every
  fraction of a second and stops the infrastructure of CANCELLING runs, so
  a finished run frees its slot promptly.

With ``workers`` (``--with-worker``), process pools are served by pull
workers in this process (``handlers.local.workers``): the same worker as
``pushpool worker start``, woken by the same trigger, so a run created now
starts at once instead of at the next poll.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from core.errors import Conflict, NotFound, PushpoolError
from core.models import WorkPool
from core.ports import Clock, PoolMode
from core.rules.timeouts import submit_attempts
from core.states import StateType, new_state
from handlers.bootstrap import Container
from handlers.profiles import Profile
from handlers.wakeups import Wakeups

if TYPE_CHECKING:  # the workers load the API resolver; a stack without them does not
    from handlers.local.workers import LocalWorkers

log = logging.getLogger("pushpool.local")


class LocalTrigger:
    """Wake-ups per pool, now or at a time; the dispatch loop ``take``s them."""

    def __init__(self, clock: Clock, wakeups: Wakeups | None = None) -> None:
        self._clock = clock
        self.wakeups = wakeups or Wakeups()
        self._cond = threading.Condition()
        self._heap: list[tuple[datetime, str]] = []
        self._closed = False

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        """Wake the dispatch loop; its passes always look after active runs
        (and the observe loop stops cancelled ones), so ``look_after`` adds nothing."""
        with self._cond:
            heapq.heappush(self._heap, (not_before or self._clock(), pool_name))
            self._cond.notify_all()
        # Even for a run due later: a worker claims runs ahead (its prefetch)
        # and starts them on time, so it should hear of them now.
        self.wakeups.signal(pool_name)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self.wakeups.close()

    def take(self, timeout: float) -> list[str]:
        """Pools due now (each once), waiting up to ``timeout`` seconds for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                now = self._clock()
                due: set[str] = set()
                while self._heap and self._heap[0][0] <= now:
                    due.add(heapq.heappop(self._heap)[1])
                if due:
                    for pool_name in due:  # a run due now, announced earlier
                        self.wakeups.signal(pool_name)
                    return sorted(due)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                if self._heap:
                    remaining = min(remaining, (self._heap[0][0] - now).total_seconds())
                self._cond.wait(max(remaining, 0.001))
            return []


class LocalStack:
    """The dispatch, tick and observe loops around one container."""

    def __init__(
        self,
        container: Container,
        trigger: LocalTrigger,
        *,
        workers: LocalWorkers | None = None,
        tick_seconds: float = 5.0,
        observe_seconds: float = 0.25,
    ) -> None:
        self.container = container
        self.trigger = trigger
        self.types = container.types
        self.workers = workers
        self.tick_seconds = tick_seconds
        self.observe_seconds = observe_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._failures: dict[str, int] = {}
        self._warned: dict[str, tuple[str, float]] = {}
        services = container.services(Profile.LOCAL)  # the profile's choices: handlers.profiles
        self.dispatcher = services.dispatcher
        self.ticker = services.ticker
        self.lifecycle = services.lifecycle

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        for target, name in (
            (self._dispatch_loop, "dispatch"),
            (self._tick_loop, "tick"),
            (self._observe_loop, "observe"),
        ):
            thread = threading.Thread(target=target, name=f"pushpool-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.workers is not None:
            self.workers.sync()
        for pool in self.container.store.list_pools():
            self.trigger.request_dispatch(pool.name)

    def stop(self, *, timeout: float = 10.0) -> list[str]:
        """Stop the loops, then hand back what this process held: claimed runs
        not yet submitted return to SCHEDULED; runs its workers were executing
        are stopped and marked CRASHED.  Returns a line per run changed."""
        self._stop.set()
        self.trigger.close()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        released = self.workers.stop() if self.workers is not None else []
        return released + self.release_claims()

    # -- loops ---------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            for pool_name in self.trigger.take(timeout=0.5):
                if self._stop.is_set():
                    return
                self.dispatch(pool_name)

    def dispatch(self, pool_name: str) -> None:
        """One pass for a push or managed pool; a failing pool is retried with
        back-off (2 s doubling to a minute), as the cloud's queue would
        redeliver its message, and after the pool's ``submit_attempts`` failed
        passes the next is the last: what still fails retryably ends CRASHED
        with the error.  A pull pool's runs are its workers' to claim: no pass,
        its worker here (``--with-worker``) is woken instead, and a separate
        worker's long-poll already heard the trigger."""
        try:
            pool = self.container.store.get_pool(pool_name)
        except NotFound:  # deleted since the wake-up was asked for
            self._failures.pop(pool_name, None)
            return
        except PushpoolError as exc:
            self._retry_later(pool_name, exc)
            return
        except Exception:
            log.exception("dispatch of %s failed", pool_name)
            return
        if not self._served_here(pool):
            if self.workers is not None:
                self.workers.wake(pool)
            return
        try:
            final = self._failures.get(pool_name, 0) + 1 >= submit_attempts(pool)
            report = self.dispatcher.dispatch(pool_name, final_attempt=final)
        except PushpoolError as exc:
            self._retry_later(pool_name, exc)
            return
        except Exception:
            log.exception("dispatch of %s failed", pool_name)
            return
        self._failures.pop(pool_name, None)
        if report.wants_another_pass:
            self.trigger.request_dispatch(pool_name)

    def _retry_later(self, pool_name: str, exc: PushpoolError) -> None:
        delay = min(2 * 2 ** self._failures.get(pool_name, 0), 60)
        self._failures[pool_name] = self._failures.get(pool_name, 0) + 1
        self._warn(f"dispatch of {pool_name}: {exc} (retrying in {delay} s)", key=pool_name)
        self.trigger.request_dispatch(pool_name, not_before=self._later(delay))

    def _warn(self, message: str, *, key: str) -> None:
        """Log a problem once a minute, not on every pass that meets it."""
        now = time.monotonic()
        last = self._warned.get(key)
        if (
            last is not None
            and last[0] == message.split(" (retrying", maxsplit=1)[0]
            and now - last[1] < 60
        ):
            return
        self._warned[key] = (message.split(" (retrying", maxsplit=1)[0], now)
        log.warning("%s", message)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.tick_seconds)

    def tick(self) -> None:
        if self.workers is not None:
            self.workers.sync()  # pools created since the last tick get their worker
        try:
            report = self.ticker.tick()
        except Exception as exc:  # the store is down, or a bug: said once a minute
            log.debug("tick failed", exc_info=True)
            self._warn(f"tick failed: {type(exc).__name__}: {exc}", key="tick")
            return
        for error in report.errors:
            self._warn(f"tick: {error}", key=f"tick:{error}")
        for request in report.dispatch:
            self.trigger.request_dispatch(request.pool_name, not_before=request.not_before)
        released = set(report.reap.released_pools)
        for poll in report.polls:
            released |= poll.released_pools
        for pool_name in sorted(released):
            self.trigger.request_dispatch(pool_name)

    def _observe_loop(self) -> None:
        while not self._stop.is_set():
            self.observe()
            self._stop.wait(self.observe_seconds)

    def observe(self) -> None:
        """The lifecycle's observe request for each served pool with active
        runs: stop cancelled runs, poll submitted ones."""
        store = self.container.store
        try:
            pools = [p for p in store.list_pools() if self._served_here(p)]
        except PushpoolError as exc:
            log.warning("observe: %s", exc)
            return
        for pool in pools:
            try:
                if not store.list_active(pool.id):
                    continue
                observation = self.lifecycle.observe(pool)
            except PushpoolError as exc:
                self._warn(f"observing {pool.name}: {exc}", key=f"observe:{pool.name}")
                continue
            except Exception as exc:
                # One pool's unexpected failure (an SDK error nobody translated)
                # must not end the loop for every pool (issue 13, fault 4).
                what = f"{type(exc).__name__}: {exc}"
                self._warn(f"observing {pool.name} failed: {what}", key=f"observe:{pool.name}")
                continue
            for outcome in observation.stopped:
                if outcome.error:
                    key = f"cancel:{outcome.run_id}"
                    self._warn(f"cancelling {outcome.run_id}: {outcome.error}", key=key)
            if observation.released_slot:
                self.trigger.request_dispatch(pool.name)

    def _served_here(self, pool: WorkPool) -> bool:
        return self.types.mode(pool.type) is not PoolMode.PULL

    def _later(self, seconds: float) -> datetime:
        return self.container.clock() + timedelta(seconds=seconds)

    # -- shutdown ----------------------------------------------------------------------------
    def release_claims(self) -> list[str]:
        store = self.container.store
        changed: list[str] = []
        try:
            pools = [p for p in store.list_pools() if self._served_here(p)]
        except PushpoolError:
            return changed
        for pool in pools:
            for run in store.list_active(pool.id):
                now = self.container.clock()
                if run.state.type is not StateType.PENDING or run.infrastructure_pid:
                    continue  # submitted: the cloud runs it on, and reports on it
                state = new_state(
                    StateType.SCHEDULED,
                    at=now,
                    scheduled_time=run.next_scheduled_start_time,
                    message="The local server stopped before submitting it; it will be retried.",
                )
                try:
                    store.record_state(run, state)
                except (Conflict, NotFound):
                    continue
                changed.append(f"{run.name} ({run.id}): {run.state.type} -> {state.type}")
        return changed
