"""Design §3 through the API, on SQLite and on DynamoDB (ThreadedMotoServer):
what a worker's poll is offered, and what its claims get."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.support import (
    Env,
    LiveApi,
    make_deployment,
    make_env,
    make_pool,
    make_queue,
    make_run,
    ok,
    propose,
)
from tests.contract import backends
from tests.contract.fixtures import moto_server, store_url

__all__ = ["moto_server", "store_url"]


@pytest.fixture(params=backends.SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(live_api: LiveApi, tmp_path: Path, store_url: str) -> Env:
    return make_env(live_api, tmp_path, store_url=store_url)


def offered(env: Env, pool: str = "p", **body: Any) -> list[str]:
    answer = ok(env.http.post(f"/work_pools/{pool}/get_scheduled_flow_runs", json=body))
    return [o["flow_run"]["name"] for o in answer]


def pool_with_queues(env: Env, *, limit: int | None, queues: dict[str, dict[str, Any]]) -> dict:
    make_pool(env.http, "p", concurrency_limit=limit)
    for name, settings in queues.items():
        make_queue(env.http, "p", name, **settings)
    return make_deployment(env.http, "p")


def test_priority_beats_lateness(world: Env):
    deployment = pool_with_queues(
        world, limit=2, queues={"a": {"priority": 1}, "b": {"priority": 2}}
    )
    now = world.clock()
    make_run(
        world.http, deployment["id"], at=now - timedelta(hours=1), queue="b", name="very-late-b"
    )
    make_run(world.http, deployment["id"], at=now - timedelta(seconds=1), queue="a", name="a1")
    make_run(world.http, deployment["id"], at=now, queue="a", name="a2")
    assert offered(world) == ["a1", "a2"]


def test_a_queue_held_by_its_limit_passes_spare_pool_slots_down(world: Env):
    deployment = pool_with_queues(
        world, limit=3, queues={"a": {"priority": 1, "concurrency_limit": 1}, "b": {"priority": 2}}
    )
    now = world.clock()
    for i in range(3):
        make_run(
            world.http,
            deployment["id"],
            at=now - timedelta(seconds=10 - i),
            queue="a",
            name=f"a{i}",
        )
        make_run(
            world.http,
            deployment["id"],
            at=now - timedelta(seconds=10 - i),
            queue="b",
            name=f"b{i}",
        )
    assert offered(world) == ["a0", "b0", "b1"]


def test_without_limits_everything_due_is_offered_in_priority_then_time_order(world: Env):
    deployment = pool_with_queues(world, limit=None, queues={"first": {"priority": 1}})
    now = world.clock()
    make_run(world.http, deployment["id"], at=now - timedelta(seconds=5), name="d-early")
    make_run(
        world.http, deployment["id"], at=now - timedelta(seconds=1), queue="first", name="f-late"
    )
    make_run(
        world.http, deployment["id"], at=now - timedelta(seconds=9), queue="first", name="f-early"
    )
    make_run(world.http, deployment["id"], at=now + timedelta(hours=1), name="future")
    assert offered(world) == ["f-early", "f-late", "d-early"]


def test_paused_things_and_zero_limits_release_nothing(world: Env):
    deployment = pool_with_queues(
        world, limit=None, queues={"held": {"priority": 1, "is_paused": True}}
    )
    make_run(world.http, deployment["id"], queue="held", name="held")
    make_run(world.http, deployment["id"], name="free")
    assert offered(world) == ["free"]
    world.http.patch("/work_pools/p", json={"concurrency_limit": 0})
    assert offered(world) == []
    world.http.patch("/work_pools/p", json={"concurrency_limit": None, "is_paused": True})
    assert offered(world) == []


def test_claims_follow_the_offer_and_slots_come_back_when_runs_end(world: Env):
    deployment = pool_with_queues(
        world, limit=2, queues={"a": {"priority": 1, "concurrency_limit": 1}, "b": {"priority": 2}}
    )
    now = world.clock()
    runs = {
        name: make_run(
            world.http, deployment["id"], at=now - timedelta(seconds=9 - i), queue=queue, name=name
        )
        for i, (name, queue) in enumerate([("a0", "a"), ("a1", "a"), ("b0", "b"), ("b1", "b")])
    }
    first = offered(world)
    assert first == ["a0", "b0"]
    for name in first:
        assert propose(world.http, runs[name]["id"], "PENDING")["status"] == "ACCEPT"
    assert offered(world) == []
    # Claims beyond the limits abort, whatever the caller was offered.
    assert propose(world.http, runs["a1"]["id"], "PENDING")["status"] == "ABORT"
    assert propose(world.http, runs["b1"]["id"], "PENDING")["status"] == "ABORT"
    propose(world.http, runs["a0"]["id"], "RUNNING")
    propose(world.http, runs["a0"]["id"], "COMPLETED")
    assert offered(world) == ["a1"]
    status = ok(world.http.post("/work_pools/p/concurrency_status", json={}))
    assert status["active_slots"] == 1
