"""Schemathesis against the live API's own OpenAPI document, on both stores.

Every operation in ``/api/openapi.json`` is called with generated requests
(valid and invalid bodies, paths and queries) as an admin.  For each:

* no answer is a 5xx;
* every 4xx carries a non-empty ``detail`` saying what to fix;
* a rejected request (4xx) leaves the store exactly as it was: the store is
  photographed before and after (SQLite: every table; DynamoDB: a scan).

Half the generated path parameters are swapped for objects that exist (a
pool, queue, worker, flow, deployment and run seeded before each case and
re-created when a case deleted them), so requests reach past "not found".
CI runs a bounded number of examples per operation, derandomized: the same
examples every run, so CI never goes red by chance.  Set
``PUSHPOOL_FUZZ_EXAMPLES`` for a longer run and ``PUSHPOOL_FUZZ_RANDOM=1``
for fresh random examples (what a longer hunt should use).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from core.errors import NotFound
from tests.fuzz.live import STORES, LiveApi, live_api

EXAMPLES = int(os.environ.get("PUSHPOOL_FUZZ_EXAMPLES", "8"))
RANDOM = os.environ.get("PUSHPOOL_FUZZ_RANDOM", "") not in {"", "0"}


class Seed:
    """Objects that exist, so fuzzed paths can name them."""

    def __init__(self, live: LiveApi) -> None:
        self.live = live
        self.http = live.client(live.admin)
        self.known: dict[str, str] = {}
        self.stale = True

    def after(self, method: str, status: int) -> None:
        """A request that changed something may have deleted or renamed a seed."""
        self.stale = self.stale or (method != "GET" and status < 400)

    def ensure(self) -> None:
        if not self.stale:
            return
        self.stale = False
        store = self.live.store
        try:
            pool = store.get_pool("fuzz-pool")
            store.get_queue(pool.id, "fuzz-queue")
            store.get_deployment(self.known["deployment_id"])
            store.get_run(self.known["run_id"])
        except (NotFound, KeyError):
            self._create()

    def _create(self) -> None:
        http = self.http
        if http.get("/work_pools/fuzz-pool").status_code == 404:
            http.post("/work_pools/", json={"name": "fuzz-pool", "type": "process"})
        http.post("/work_pools/fuzz-pool/queues", json={"name": "fuzz-queue"})
        http.post("/work_pools/fuzz-pool/workers/heartbeat", json={"name": "fuzz-worker"})
        flow = http.post("/flows/", json={"name": "fuzz-flow"}).json()
        deployment = http.post(
            "/deployments/",
            json={"name": "fuzz-dep", "flow_id": flow["id"], "work_pool_name": "fuzz-pool"},
        ).json()
        run = http.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"state": {"type": "SCHEDULED"}},
        ).json()
        self.known = {
            "pool": "fuzz-pool",
            "queue": "fuzz-queue",
            "worker": "fuzz-worker",
            "flow_id": flow["id"],
            "flow_name": "fuzz-flow",
            "deployment_id": deployment["id"],
            "deployment_name": "fuzz-dep",
            "run_id": run["id"],
            "pool_type": "process",
        }


@pytest.fixture(scope="module", params=STORES)
def fuzzed(request: pytest.FixtureRequest) -> Iterator[tuple[LiveApi, Seed]]:
    with live_api(request.param) as live:
        seed = Seed(live)
        seed.ensure()
        yield live, seed


@pytest.fixture
def api_schema(fuzzed: tuple[LiveApi, Seed]) -> Any:
    live, seed = fuzzed
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"headers": {"Authorization": f"Bearer {live.admin}"}}
    )
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json", config=config)

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any]) -> Any:
        known = {k: seed.known.get(k, v) for k, v in (path_parameters or {}).items()}
        return st.sampled_from([path_parameters, known])

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_route_answers_without_5xx_explains_4xx_and_changes_nothing_it_rejects(
    case: Any, fuzzed: tuple[LiveApi, Seed]
) -> None:
    live, seed = fuzzed
    seed.ensure()
    before = live.snapshot()
    response = case.call(headers={"Authorization": f"Bearer {live.admin}"})
    status = response.status_code
    seed.after(case.method.upper(), status)
    described = f"{case.method} {case.formatted_path} -> {status}: {response.text[:300]}"
    assert status < 500, described
    if status >= 400:
        body = response.json()
        assert isinstance(body, dict), described
        assert isinstance(body.get("detail"), str), described
        assert body["detail"].strip(), described
        assert live.snapshot() == before, f"rejected but changed the store: {described}"
