"""The in-process dispatch trigger wakes the loop now, or at a run's second."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from handlers.local.loops import LocalTrigger


def now() -> datetime:
    return datetime.now(UTC)


def test_a_request_for_now_wakes_a_waiting_loop_at_once():
    trigger = LocalTrigger(now)
    threading.Timer(0.05, lambda: trigger.request_dispatch("p")).start()
    started = time.monotonic()
    assert trigger.take(timeout=5) == ["p"]
    assert time.monotonic() - started < 1


def test_a_later_request_waits_for_its_time_and_pools_come_once():
    trigger = LocalTrigger(now)
    trigger.request_dispatch("later", not_before=now() + timedelta(seconds=0.2))
    trigger.request_dispatch("a")
    trigger.request_dispatch("a")
    assert trigger.take(timeout=1) == ["a"]
    started = time.monotonic()
    assert trigger.take(timeout=2) == ["later"]
    assert 0.1 < time.monotonic() - started < 1.5


def test_an_earlier_wake_up_does_not_swallow_a_later_one():
    trigger = LocalTrigger(now)
    trigger.request_dispatch("p")
    trigger.request_dispatch("p", not_before=now() + timedelta(seconds=0.1))
    assert trigger.take(timeout=1) == ["p"]
    assert trigger.take(timeout=2) == ["p"]


def test_closing_releases_a_waiting_loop():
    trigger = LocalTrigger(now)
    threading.Timer(0.05, trigger.close).start()
    assert trigger.take(timeout=5) == []
