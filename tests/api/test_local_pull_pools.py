"""`pushpool server`'s dispatch loop and pull pools (issue 20): a woken pull
pool gets no dispatcher pass (nothing there is the dispatcher's to claim);
with ``--with-worker`` its local worker is woken and claims the run instead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers.local.server import Stack
from tests.api.support import local_server, make_deployment, make_pool, make_run, ok
from tests.bench.recording import RecordingProvider


class CountingDispatcher:
    """The stack's dispatcher, with a count of the passes asked of it per pool."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.passes: list[str] = []

    def dispatch(self, pool_name: str, **options: Any) -> Any:
        self.passes.append(pool_name)
        return self.inner.dispatch(pool_name, **options)


def served(tmp_path: Path, *, with_worker: bool) -> Iterator[tuple[Stack, httpx.Client]]:
    """A stack whose loops are not started: each pass is asked for by the test."""
    recorders = {"process": RecordingProvider(), "ecs:push": RecordingProvider()}
    with local_server(
        tmp_path, loops=False, with_worker=with_worker, providers=recorders
    ) as served:
        stack, _ = served
        stack.loops.dispatcher = CountingDispatcher(stack.loops.dispatcher)  # type: ignore[assignment]
        yield served


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[tuple[Stack, httpx.Client]]:
    yield from served(tmp_path, with_worker=False)


@pytest.fixture
def with_worker(tmp_path: Path) -> Iterator[tuple[Stack, httpx.Client]]:
    yield from served(tmp_path, with_worker=True)


def passes(stack: Stack) -> list[str]:
    counting: CountingDispatcher = stack.loops.dispatcher  # type: ignore[assignment]
    return counting.passes


def test_a_woken_pull_pool_gets_no_dispatch_pass_and_its_run_waits_for_a_worker(
    plain: tuple[Stack, httpx.Client],
):
    stack, http = plain
    for name, pool_type in (("proc", "process"), ("dock", "docker"), ("push", "ecs:push")):
        make_pool(http, name, type=pool_type)
    pulled = make_run(http, make_deployment(http, "proc")["id"])
    pushed = make_run(http, make_deployment(http, "push", name="d2")["id"])

    for name in ("proc", "dock", "push", "proc", "gone"):
        stack.loops.dispatch(name)

    assert passes(stack) == ["push"]
    assert ok(http.get(f"/flow_runs/{pulled['id']}"))["state_type"] == "SCHEDULED"
    assert ok(http.get(f"/flow_runs/{pushed['id']}"))["state_type"] == "PENDING"


def test_with_worker_a_woken_process_pool_wakes_its_worker_which_claims_the_run(
    with_worker: tuple[Stack, httpx.Client],
):
    stack, http = with_worker
    make_pool(http, "proc", type="process")
    run = make_run(http, make_deployment(http, "proc")["id"])
    recorder = stack.container.provider("process")
    assert isinstance(recorder, RecordingProvider)

    stack.loops.dispatch("proc")  # the trigger's wake-up for the new run

    assert recorder.wait_for(run["id"], timeout=20) is not None
    claimed = ok(http.get(f"/flow_runs/{run['id']}"))
    assert claimed["worker_name"] == stack.loops.workers.name  # type: ignore[union-attr]
    assert passes(stack) == []
