"""Fixtures every test directory may use; a directory's own conftest adds its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.api.support import Env, LiveApi, make_env, start_api
from tests.clock import NOW, FakeClock
from tests.servers import ServerProcess


@pytest.fixture
def clock() -> FakeClock:
    """A settable clock at ``NOW``; ``clock.advance(minutes=5)`` moves it."""
    return FakeClock(NOW)


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    """The API in uvicorn on a loopback port, one per test module (tests/api/support.py)."""
    yield from start_api()


@pytest.fixture
def env(live_api: LiveApi, tmp_path: Path) -> Env:
    """An open API (no auth, as `pushpool server` on loopback) over a fresh store."""
    return make_env(live_api, tmp_path)


@pytest.fixture
def secured(live_api: LiveApi, tmp_path: Path) -> Env:
    """The same API over a fresh store, with bearer tokens required."""
    return make_env(live_api, tmp_path, auth=True)


@pytest.fixture
def pushpool_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts real ``pushpool server`` processes (see tests/servers.py); all stop at teardown.

    ``pushpool_server("--with-worker", store=url, env=environment)`` returns
    the serving process; ``.url`` is its API URL.  Its log is in ``tmp_path``.
    """
    started: list[ServerProcess] = []

    def start(
        *args: str, store: str | None = None, env: Mapping[str, str] | None = None
    ) -> ServerProcess:
        log = tmp_path / f"server-{len(started)}.log"
        started.append(ServerProcess(*args, store=store, env=env, log=log))
        return started[-1]

    yield start
    failures = []
    for server in started:
        try:
            server.stop()
        except AssertionError as failure:  # the others must still stop
            failures.append(failure)
    if failures:
        raise failures[0]
