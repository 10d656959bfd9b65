"""The long-poll of ``get_scheduled_flow_runs`` on the local server (issue 16).

The API is ``pushpool server``'s (``handlers.local.server.build``: the local
trigger and its wake-ups) on both stores, without its loops, so only the
requests below change anything.  Bounds on time are generous: they check
that a parked poll is woken, not how fast.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from handlers.local.server import BackgroundServer, build
from handlers.wakeups import Wakeups
from tests.api.support import make_deployment, make_pool, make_run, ok
from tests.contract import backends
from tests.contract.fixtures import moto_server, store_url

__all__ = ["moto_server", "store_url"]

POLL = "/work_pools/pool/get_scheduled_flow_runs"


@pytest.fixture(params=backends.SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(store_url: str) -> Iterator[tuple[httpx.Client, Wakeups]]:
    stack = build(port=0, store_url=store_url)
    background = BackgroundServer(stack.container, stack.sock)
    background.start()
    wakeups = stack.container.wakeups
    assert wakeups is not None
    try:
        with httpx.Client(base_url=stack.url, timeout=30) as http:
            yield http, wakeups
    finally:
        wakeups.close()
        background.stop()


def _poll(http: httpx.Client, **body: Any) -> tuple[list[dict[str, Any]], float]:
    started = time.monotonic()
    answer = ok(http.post(POLL, json=body))
    return answer, time.monotonic() - started


def _parked(wakeups: Wakeups, count: int) -> None:
    """Until ``count`` polls are parked (each holds a place)."""
    deadline = time.monotonic() + 10
    while wakeups._parked < count:
        assert time.monotonic() < deadline, f"{wakeups._parked} of {count} polls parked"
        time.sleep(0.01)


def test_a_parked_poll_answers_when_a_run_is_created_now_and_health_answers_meanwhile(server):
    http, wakeups = server
    make_pool(http, "pool")
    deployment = make_deployment(http, "pool")
    with ThreadPoolExecutor(1) as pool:
        parked = pool.submit(_poll, http, wait_seconds=15)
        _parked(wakeups, 1)
        started = time.monotonic()
        assert ok(http.get("/health")) is True
        assert ok(http.post("/work_pools/filter", json={}))[0]["name"] == "pool"
        assert time.monotonic() - started < 5
        assert not parked.done()
        run = make_run(http, deployment["id"])
        created = time.monotonic()
        offered, _ = parked.result(timeout=10)
        woken_after = time.monotonic() - created
    assert [o["flow_run"]["id"] for o in offered] == [run["id"]]
    assert woken_after < 5  # far under the 15 s asked: woken, not timed out


def test_a_poll_with_nothing_due_answers_empty_after_its_wait(server):
    http, _ = server
    make_pool(http, "pool")
    offered, took = _poll(http, wait_seconds=0.5)
    assert offered == []
    assert took >= 0.45
    offered, took = _poll(http)  # without the field: Prefect's poll, at once
    assert offered == []
    assert took < 5


def test_a_run_due_now_is_offered_at_once_whatever_the_wait(server):
    http, _ = server
    make_pool(http, "pool")
    run = make_run(http, make_deployment(http, "pool")["id"])
    offered, took = _poll(http, wait_seconds=20)
    assert [o["flow_run"]["id"] for o in offered] == [run["id"]]
    assert took < 5


def test_beyond_the_cap_a_poll_answers_at_once_and_others_are_served(server):
    http, wakeups = server
    make_pool(http, "pool")
    wakeups.max_waiters = 3
    with ThreadPoolExecutor(3) as pool:
        parked = [pool.submit(_poll, http, wait_seconds=20) for _ in range(3)]
        _parked(wakeups, 3)
        offered, took = _poll(http, wait_seconds=20)
        assert offered == [] and took < 5
        assert ok(http.get("/health")) is True
        assert not any(p.done() for p in parked)
        wakeups.close()  # what the server's stop does: every parked poll answers
        assert all(p.result(timeout=10)[0] == [] for p in parked)


@pytest.mark.parametrize("wait", [-1, 20.5, 1e308, "soon", None, True])
def test_a_bad_wait_is_refused_and_names_the_field(server, wait):
    http, _ = server
    make_pool(http, "pool")
    response = http.post(POLL, json={"wait_seconds": wait})
    assert response.status_code == 422, response.text
    assert "wait_seconds" in response.text


def test_a_wakeup_between_the_read_and_the_wait_is_not_lost():
    wakeups = Wakeups()
    seen = wakeups.generation("p")
    wakeups.signal("p")  # lands after the store read, before the wait
    started = time.monotonic()
    assert wakeups.wait("p", seen, 10) is True
    assert time.monotonic() - started < 1
    assert wakeups.wait("p", wakeups.generation("p"), 0.05) is False
    other = threading.Thread(target=wakeups.signal, args=("q",))
    other.start()
    other.join()
    assert wakeups.wait("p", wakeups.generation("p"), 0.05) is False  # another pool's


def test_without_the_local_trigger_as_on_lambda_the_wait_is_accepted_and_not_held(env):
    """The Lambda container has no wake-ups to hear (docs/decisions.md)."""
    assert env.container.wakeups is None
    make_pool(env.http, "pool")
    offered, took = _poll(env.http, wait_seconds=20)
    assert offered == []
    assert took < 5
