"""Scopes are enforced on every route the API publishes (issue 9, security review).

The routes come from the live server's ``/api/openapi.json``, so a route
added later without a decision here fails ``test_every_published_route_has_a_scope``.
Each route is called with a valid body against objects of pool ``alpha``:

* without a token → 401;
* with a worker token of pool ``beta`` → 403 (listings show only ``beta``);
* with the run token of a run in ``beta`` → 403;
* with the run token of run ``alpha-1`` → allowed only on that run's own
  routes (read, report state, report infrastructure), 403 everywhere else
  and on run ``alpha-2``.

Every refused request must leave the store exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fuzz.live import STORES, LiveApi, live_api

# Who may call a route: admin only; admins and workers of the pool named in
# the path; admins, workers of the run's pool and the run's own token;
# admins and workers of the run's pool (a claimed run's job, with the token
# the worker must hand its process); admins and workers, each worker seeing
# only its own pool's runs; any valid token (the pool-type catalogue).
ADMIN, POOL, RUN, RUN_JOB, LISTING, ANY, PUBLIC = (
    "admin", "pool", "run", "run-job", "listing", "any", "public",
)  # fmt: skip

POLICY: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): PUBLIC,
    ("POST", "/api/work_pools/"): ADMIN,
    ("POST", "/api/work_pools/filter"): ADMIN,
    ("POST", "/api/work_pools/count"): ADMIN,
    ("GET", "/api/work_pools/{pool}"): POOL,
    ("PATCH", "/api/work_pools/{pool}"): ADMIN,
    ("DELETE", "/api/work_pools/{pool}"): ADMIN,
    ("POST", "/api/work_pools/{pool}/concurrency_status"): POOL,
    ("POST", "/api/work_pools/{pool}/queues"): ADMIN,
    ("POST", "/api/work_pools/{pool}/queues/filter"): POOL,
    ("GET", "/api/work_pools/{pool}/queues/{queue}"): POOL,
    ("PATCH", "/api/work_pools/{pool}/queues/{queue}"): ADMIN,
    ("DELETE", "/api/work_pools/{pool}/queues/{queue}"): ADMIN,
    ("POST", "/api/work_pools/{pool}/workers/heartbeat"): POOL,
    ("POST", "/api/work_pools/{pool}/workers/filter"): POOL,
    ("DELETE", "/api/work_pools/{pool}/workers/{worker}"): POOL,
    ("POST", "/api/work_pools/{pool}/get_scheduled_flow_runs"): POOL,
    ("POST", "/api/work_pools/{pool}/preview"): POOL,
    ("POST", "/api/flows/"): ADMIN,
    ("GET", "/api/flows/{flow_id}"): ADMIN,
    ("POST", "/api/deployments/"): ADMIN,
    ("POST", "/api/deployments/filter"): ADMIN,
    ("GET", "/api/deployments/name/{flow_name}/{deployment_name}"): ADMIN,
    ("GET", "/api/deployments/{deployment_id}"): ADMIN,
    ("PATCH", "/api/deployments/{deployment_id}"): ADMIN,
    ("DELETE", "/api/deployments/{deployment_id}"): ADMIN,
    ("POST", "/api/deployments/{deployment_id}/create_flow_run"): ADMIN,
    ("GET", "/api/flow_runs/{run_id}"): RUN,
    ("PATCH", "/api/flow_runs/{run_id}"): RUN,
    ("POST", "/api/flow_runs/{run_id}/set_state"): RUN,
    ("GET", "/api/flow_runs/{run_id}/job_configuration"): ADMIN,
    ("GET", "/api/flow_run_states/"): RUN,
    ("GET", "/api/flow_runs/{run_id}/job"): RUN_JOB,
    ("GET", "/api/work_pool_types/"): ANY,
    ("GET", "/api/work_pool_types/{pool_type}"): ANY,
    ("POST", "/api/flow_runs/filter"): LISTING,
    ("POST", "/api/flow_runs/count"): LISTING,
    ("POST", "/api/tokens/"): ADMIN,
    # What Prefect's CLI and client ask for (issue 18).
    ("POST", "/api/flows/filter"): ADMIN,
    ("POST", "/api/flow_runs/"): ADMIN,
    ("GET", "/api/work_queues/{queue_id}"): POOL,
    ("PATCH", "/api/work_queues/{queue_id}"): ADMIN,
    ("DELETE", "/api/work_queues/{queue_id}"): ADMIN,
    ("GET", "/api/work_queues/{queue_id}/status"): POOL,
    ("GET", "/api/automations/related-to/{resource}"): ADMIN,
    ("GET", "/api/collections/views/{view}"): ANY,
    ("GET", "/api/csrf-token"): ANY,
}

# What a route that any valid token reaches answers, when not 200.
ANY_ANSWERS = {("GET", "/api/csrf-token"): 422}  # "CSRF protection is disabled."

BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/work_pools/"): {"name": "gamma", "type": "process"},
    ("PATCH", "/api/work_pools/{pool}"): {"description": "changed"},
    ("POST", "/api/work_pools/{pool}/queues"): {"name": "new-queue"},
    ("PATCH", "/api/work_pools/{pool}/queues/{queue}"): {"description": "changed"},
    ("PATCH", "/api/work_queues/{queue_id}"): {"description": "changed"},
    ("POST", "/api/work_pools/{pool}/workers/heartbeat"): {"name": "intruder"},
    ("POST", "/api/flows/"): {"name": "other-flow"},
    ("PATCH", "/api/deployments/{deployment_id}"): {"description": "changed"},
    ("POST", "/api/deployments/{deployment_id}/create_flow_run"): {"state": {"type": "SCHEDULED"}},
    ("PATCH", "/api/flow_runs/{run_id}"): {"infrastructure_pid": "pid-1"},
    ("POST", "/api/flow_runs/{run_id}/set_state"): {"state": {"type": "CANCELLING"}},
    ("POST", "/api/tokens/"): {"scope": "admin"},
}


@dataclass
class World:
    live: LiveApi
    ids: dict[str, str]
    routes: list[tuple[str, str]]

    def path(self, template: str, *, run: str = "alpha-1") -> str:
        values = {
            "pool": "alpha",
            "queue": "q",
            "worker": "w",
            "flow_id": self.ids["flow"],
            "flow_name": "flow",
            "deployment_name": "alpha-dep",
            "deployment_id": self.ids["alpha-dep"],
            "run_id": self.ids[run],
            "pool_type": "process",
            "queue_id": self.ids["alpha-q"],
            "resource": f"prefect.deployment.{self.ids['alpha-dep']}",
            "view": "aggregate-worker-metadata",
        }
        return template.removeprefix("/api").format(**values)

    def body(self, method: str, template: str) -> Any:
        if (method, template) == ("POST", "/api/deployments/"):
            return {"name": "other", "flow_id": self.ids["flow"], "work_pool_name": "alpha"}
        return BODIES.get((method, template), {} if method == "POST" else None)


def seed(live: LiveApi) -> dict[str, str]:
    http = live.client(live.admin)
    ids: dict[str, str] = {}
    flow = http.post("/flows/", json={"name": "flow"}).json()
    ids["flow"] = flow["id"]
    for pool in ("alpha", "beta"):
        assert http.post("/work_pools/", json={"name": pool, "type": "process"}).status_code == 201
        ids[f"{pool}-q"] = http.post(f"/work_pools/{pool}/queues", json={"name": "q"}).json()["id"]
        http.post(f"/work_pools/{pool}/workers/heartbeat", json={"name": "w"})
        body = {"name": f"{pool}-dep", "flow_id": flow["id"], "work_pool_name": pool}
        ids[f"{pool}-dep"] = http.post("/deployments/", json=body).json()["id"]
        for n in (1, 2):
            run = http.post(
                f"/deployments/{ids[f'{pool}-dep']}/create_flow_run",
                json={"state": {"type": "SCHEDULED"}, "work_queue_name": "q"},
            ).json()
            ids[f"{pool}-{n}"] = run["id"]
    return ids


@pytest.fixture(scope="module", params=STORES)
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    with live_api(request.param) as live:
        ids = seed(live)
        document = live.client().get("/openapi.json").json()
        routes = [
            (method.upper(), path)
            for path, operations in document["paths"].items()
            for method in operations
        ]
        yield World(live=live, ids=ids, routes=routes)


def call(
    world: World, client: httpx.Client, method: str, template: str, **kw: Any
) -> httpx.Response:
    body = world.body(method, template)
    path = world.path(template, **kw)
    params = {"flow_run_id": world.ids[kw.get("run", "alpha-1")]} if "states" in template else None
    if body is None:
        return client.request(method, path, params=params)
    return client.request(method, path, json=body, params=params)


def refused(world: World, send: Callable[[], httpx.Response], status: int, what: str) -> None:
    before = world.live.snapshot()
    response = send()
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    assert response.json()["detail"], what
    assert world.live.snapshot() == before, f"{what} was refused but changed the store"


def test_every_published_route_has_a_scope(world: World) -> None:
    undecided = sorted(set(world.routes) - set(POLICY))
    assert not undecided, f"routes without a scope decision: {undecided}"
    assert len(world.routes) >= 30


def test_no_token_gets_401_everywhere_but_health(world: World) -> None:
    anonymous = world.live.client()
    for method, template in world.routes:
        if POLICY[(method, template)] == PUBLIC:
            assert call(world, anonymous, method, template).status_code == 200
            continue
        what = f"{method} {template} without a token"
        refused(world, lambda m=method, t=template: call(world, anonymous, m, t), 401, what)


def test_a_worker_of_another_pool_is_refused_on_every_route_of_this_pool(world: World) -> None:
    intruder = world.live.client(world.live.token("worker", pool_name="beta"))
    for method, template in world.routes:
        policy = POLICY[(method, template)]
        if policy in (PUBLIC, ANY):
            continue
        if policy == LISTING:
            answer = call(world, intruder, method, template)
            assert answer.status_code == 200, answer.text
            found = answer.json()
            if isinstance(found, list):
                assert {r["work_pool_name"] for r in found} <= {"beta"}
            continue
        what = f"{method} {template} with a worker token of beta"
        refused(world, lambda m=method, t=template: call(world, intruder, m, t), 403, what)


def test_the_run_token_of_another_pools_run_is_refused_everywhere(world: World) -> None:
    stranger = world.live.client(world.live.run_token(world.ids["beta-1"]))
    for method, template in world.routes:
        if POLICY[(method, template)] in (PUBLIC, ANY):
            continue
        what = f"{method} {template} with beta-1's run token"
        refused(world, lambda m=method, t=template: call(world, stranger, m, t), 403, what)


def test_a_run_token_reaches_its_own_run_and_nothing_else(world: World) -> None:
    own = world.live.client(world.live.run_token(world.ids["alpha-1"]))
    for method, template in world.routes:
        policy = POLICY[(method, template)]
        if policy in (PUBLIC, ANY):
            continue
        if policy == RUN:
            sibling = f"{method} {template} on alpha-2 with alpha-1's token"
            refused(
                world,
                lambda m=method, t=template: call(world, own, m, t, run="alpha-2"),
                403,
                sibling,
            )
            answer = call(world, own, method, template)  # past the scope check, whatever it says
            assert answer.status_code not in (401, 403), f"{method} {template}: {answer.text}"
            assert answer.status_code < 500, f"{method} {template}: {answer.text}"
            continue
        what = f"{method} {template} with alpha-1's run token"
        refused(world, lambda m=method, t=template: call(world, own, m, t), 403, what)


def test_any_valid_token_reads_the_pool_type_catalogue(world: World) -> None:
    tokens = [
        world.live.admin,
        world.live.token("worker", pool_name="beta"),
        world.live.run_token(world.ids["beta-1"]),
    ]
    for token in tokens:
        client = world.live.client(token)
        for method, template in world.routes:
            if POLICY[(method, template)] == ANY:
                answer = call(world, client, method, template)
                expected = ANY_ANSWERS.get((method, template), 200)
                assert answer.status_code == expected, answer.text


def test_a_claimed_runs_job_is_read_by_its_pools_worker_not_by_the_run(world: World) -> None:
    """The job holds the run token the worker hands its process: the worker of
    the run's pool reads it, the run itself may not (it has its token)."""
    worker = world.live.client(world.live.token("worker", pool_name="alpha"))
    run_id = world.ids["alpha-2"]
    worker.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "PENDING"}})
    assert worker.get(f"/flow_runs/{run_id}/job").status_code == 200
    own = world.live.client(world.live.run_token(run_id))
    refused(world, lambda: own.get(f"/flow_runs/{run_id}/job"), 403, "a run reading its job")


def test_a_run_token_may_not_force_a_state(world: World) -> None:
    own = world.live.client(world.live.run_token(world.ids["alpha-2"]))
    path = world.path("/api/flow_runs/{run_id}/set_state", run="alpha-2")
    body = {"state": {"type": "COMPLETED"}, "force": True}
    refused(world, lambda: own.post(path, json=body), 403, "a forced state with a run token")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer ppr_not-a-run.signature",
        "Bearer pp_" + "x" * 43,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ppr_.",
        "Bearer " + "\u00e9" * 40,
    ],
    ids=["forged-run-token", "unknown-token", "basic", "no-token", "empty-run-token", "non-ascii"],
)
def test_forged_and_unknown_tokens_get_401(world: World, authorization: str) -> None:
    client = httpx.Client(
        base_url=world.live.url, headers={"Authorization": authorization.encode()}, timeout=10
    )
    with client:
        refused(world, lambda: client.post("/work_pools/filter", json={}), 401, authorization)


def test_a_run_token_signed_with_another_key_gets_401(world: World) -> None:
    from core.services.auth import run_token

    forged = run_token(world.ids["alpha-1"], key=b"not the server's key")
    client = world.live.client(forged)
    path = world.path("/api/flow_runs/{run_id}")
    refused(world, lambda: client.get(path), 401, "a run token signed elsewhere")


def test_an_expired_token_gets_401(world: World) -> None:
    from datetime import timedelta

    clock = world.live.container.clock
    expired = world.live.token("admin", expires=clock() - timedelta(seconds=1))
    client = world.live.client(expired)
    refused(world, lambda: client.post("/work_pools/filter", json={}), 401, "an expired token")
