"""Regression tests for what a hostile and a careless user found (issue 14),
on both stores.

Each case answered a 500, held the whole API, or was accepted silently.  Now
each is a 4xx whose ``detail`` says what to fix, and the store is exactly as
it was (photographed before and after), on SQLite and on DynamoDB alike.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from core.services import runs as run_service
from handlers.api import handle
from handlers.bootstrap import bootstrap
from handlers.local.server import BackgroundServer, bind
from tests.fuzz.live import STORES, LiveApi, live_api, refused, seed_deployment


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest) -> Iterator[LiveApi]:
    with live_api(request.param) as api:
        seed_deployment(api, "hostile")
        yield api


# -- content types -----------------------------------------------------------------------


@pytest.mark.parametrize("media_type", ["application/merge-patch+json", "application/vnd.x+json"])
def test_any_plus_json_content_type_is_read_as_json(admin: httpx.Client, media_type: str) -> None:
    response = admin.patch(
        "/work_pools/hostile",
        content=b'{"description": "typed ' + media_type.encode() + b'"}',
        headers={"content-type": media_type},
    )
    assert response.status_code == 204, response.text
    assert admin.get("/work_pools/hostile").json()["description"] == f"typed {media_type}"


def test_the_lambda_entry_point_decodes_bodies_the_same_way(live: LiveApi) -> None:
    """One decoder for both entry points: a ``+json`` body and an oversized integer
    arrive at Lambda as they do at the local server."""

    def event(body: str) -> dict[str, Any]:
        return {
            "version": "2.0",
            "rawPath": "/api/work_pools/hostile",
            "rawQueryString": "",
            "headers": {
                "Content-Type": "application/merge-patch+json",
                "authorization": f"Bearer {live.admin}",
            },
            "routeKey": "$default",
            "requestContext": {
                "stage": "$default",
                "http": {"method": "PATCH", "path": "/api/work_pools/hostile"},
            },
            "body": base64.b64encode(body.encode()).decode(),
            "isBase64Encoded": True,
        }

    assert (
        handle(event('{"description": "via lambda"}'), container=live.container)["statusCode"]
        == 204
    )
    before = live.snapshot()
    answer = handle(event(f'{{"concurrency_limit": {2**63}}}'), container=live.container)
    assert answer["statusCode"] == 422
    assert "concurrency_limit" in answer["body"]
    assert live.snapshot() == before


@pytest.mark.parametrize("media_type", ["application/merge-patch+json", "text/plain"])
def test_an_empty_body_of_any_content_type_is_a_missing_body(
    live: LiveApi, admin: httpx.Client, media_type: str
) -> None:
    detail = refused(
        live,
        lambda: admin.patch(
            "/work_pools/hostile", content=b"", headers={"content-type": media_type}
        ),
    )
    assert "body is required" in detail


# -- numbers -----------------------------------------------------------------------------

HUGE = "1" + "0" * 30  # 1e30 written as a JSON integer


OVERSIZED = {
    "pool-limit-2^63": ("PATCH", "/work_pools/hostile", f'{{"concurrency_limit": {2**63}}}'),
    "queue-priority-1e30": ("POST", "/work_pools/hostile/queues", f'{{"name": "q", "priority": {HUGE}}}'),
    "queue-limit-1e30": ("POST", "/work_pools/hostile/queues", f'{{"name": "q", "concurrency_limit": {HUGE}}}'),
    "priority-2^31": ("PATCH", "/work_pools/hostile/queues/default", f'{{"priority": {2**31}}}'),
    "run-offset-1e30": ("POST", "/flow_runs/filter", f'{{"offset": {HUGE}}}'),
    "pool-filter-limit-1e30": ("POST", "/work_pools/filter", f'{{"limit": {HUGE}}}'),
}  # fmt: skip


@pytest.mark.parametrize("case", OVERSIZED)
def test_integers_beyond_what_both_stores_hold_are_refused_with_the_bound(
    live: LiveApi, admin: httpx.Client, case: str
) -> None:
    method, path, body = OVERSIZED[case]
    field = (
        case.split("-")[1] if case.startswith("run") else "limit" if "limit" in case else "priority"
    )
    detail = refused(
        live,
        lambda: admin.request(
            method, path, content=body.encode(), headers={"content-type": "application/json"}
        ),
    )
    assert field in detail
    assert "2147483647" in detail or "1000" in detail


@pytest.mark.parametrize("value", ['"3"', "true", "3.0"])
def test_a_limit_must_be_a_json_integer(live: LiveApi, admin: httpx.Client, value: str) -> None:
    body = f'{{"concurrency_limit": {value}}}'.encode()
    detail = refused(
        live,
        lambda: admin.patch(
            "/work_pools/hostile", content=body, headers={"content-type": "application/json"}
        ),
    )
    assert "concurrency_limit" in detail


@pytest.mark.parametrize(
    ("number", "reason"),
    [("9" * 5000, "5000 digits"), ("1e400", "too large"), ("NaN", "not a JSON number")],
)
def test_numbers_no_store_or_decoder_can_hold_are_refused_naming_the_field(
    live: LiveApi, admin: httpx.Client, number: str, reason: str
) -> None:
    body = ('{"parameters": {"n": [1, ' + number + "]}}").encode()
    detail = refused(
        live,
        lambda: admin.post(
            f"/deployments/{live.deployment_id}/create_flow_run",
            content=body,
            headers={"content-type": "application/json"},
        ),
    )
    assert detail.startswith("parameters.n[1]: ")
    assert reason in detail


# -- datetimes ---------------------------------------------------------------------------


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_scheduled_time_out_of_range_is_refused_in_create_and_set_state(
    live: LiveApi, admin: httpx.Client, moment: str
) -> None:
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": moment}}
    create = f"/deployments/{live.deployment_id}/create_flow_run"
    detail = refused(live, lambda: admin.post(create, json={"state": state}))
    assert "scheduled_time" in detail and "1900" in detail
    run = admin.post(create, json={}).json()
    detail = refused(
        live, lambda: admin.post(f"/flow_runs/{run['id']}/set_state", json={"state": state})
    )
    assert "scheduled_time" in detail


def test_a_naive_scheduled_before_from_a_worker_is_refused(live: LiveApi) -> None:
    worker = live.client(live.token("worker", pool_name="hostile"))
    detail = refused(
        live,
        lambda: worker.post(
            "/work_pools/hostile/get_scheduled_flow_runs",
            json={"scheduled_before": "2030-01-01T00:00:00"},
        ),
    )
    assert "scheduled_before" in detail and "timezone" in detail


# -- authentication and paths ------------------------------------------------------------


def test_a_run_token_with_a_non_ascii_signature_is_401(live: LiveApi) -> None:
    anonymous = live.client()
    detail = refused(
        live,
        lambda: anonymous.get(
            "/work_pools/hostile",
            headers=[(b"authorization", "Bearer ppr_run-1.sig\u00e9\u00e9".encode())],
        ),
        401,
    )
    assert "signature" in detail


def test_a_nul_in_an_asset_path_is_404(live: LiveApi) -> None:
    with httpx.Client(base_url=live.origin, timeout=30) as anonymous:
        refused(live, lambda: anonymous.get("/assets/x%00.js"), 404)


# -- strict documents --------------------------------------------------------------------


def test_an_unknown_key_names_its_path_and_the_nearest_key(
    live: LiveApi, admin: httpx.Client
) -> None:
    detail = refused(
        live,
        lambda: admin.post(
            "/work_pools/", json={"name": "typo", "type": "process", "concurency_limit": 3}
        ),
    )
    assert detail == "concurency_limit: unknown key; did you mean 'concurrency_limit'?"
    nested = refused(
        live,
        lambda: admin.post(
            f"/deployments/{live.deployment_id}/create_flow_run",
            json={"state": {"typ": "SCHEDULED"}},
        ),
    )
    assert "state.typ: unknown key; did you mean 'type'?" in nested


@pytest.mark.parametrize("name", ["a\x00b", "two\nlines", "evil\u202eexe.txt", "zero\u200bwidth"])
def test_names_with_control_or_format_characters_are_refused_saying_the_rule(
    live: LiveApi, admin: httpx.Client, name: str
) -> None:
    for path, body in [
        ("/work_pools/", {"name": name, "type": "process"}),
        ("/work_pools/hostile/queues", {"name": name}),
        ("/flows/", {"name": name}),
    ]:
        detail = refused(live, lambda p=path, b=body: admin.post(p, json=b))  # type: ignore[misc]
        assert "names are printable characters" in detail


def test_a_run_naming_a_missing_queue_is_refused_listing_the_queues(
    live: LiveApi, admin: httpx.Client
) -> None:
    detail = refused(
        live,
        lambda: admin.post(
            f"/deployments/{live.deployment_id}/create_flow_run",
            json={"work_queue_name": "reallynot"},
        ),
    )
    assert "no queue 'reallynot'" in detail and "default" in detail
    assert admin.get("/work_pools/hostile/queues/reallynot").status_code == 404


# -- a true count ------------------------------------------------------------------------


def test_count_counts_every_matching_run_not_a_page(live: LiveApi, admin: httpx.Client) -> None:
    context = live.container.context
    pool = {"work_pools": {"name": {"any_": ["hostile"]}}}
    existing = admin.post("/flow_runs/count", json={}).json()
    in_pool = admin.post("/flow_runs/count", json=pool).json()
    for _ in range(205):
        run_service.create_flow_run(context, live.deployment_id)
    assert admin.post("/flow_runs/count", json={}).json() == existing + 205
    assert admin.post("/flow_runs/count", json={"limit": 5, "offset": 3}).json() == existing + 205
    assert admin.post("/flow_runs/count", json=pool).json() == in_pool + 205
    nothing = {"work_pools": {"name": {"any_": ["none-such"]}}}
    assert admin.post("/flow_runs/count", json=nothing).json() == 0


# -- one request cannot hold the API ------------------------------------------------------


def test_a_pathological_pattern_is_answered_at_once(live: LiveApi, admin: httpx.Client) -> None:
    """``(a+)+$`` on forty a's and a '!' backtracked for minutes on Python's engine."""
    variables = {
        "type": "object",
        "properties": {"x": {"type": "string", "pattern": "(a+)+$", "default": "a" * 40 + "!"}},
    }
    template = {"job_configuration": {"x": "{{ x }}"}, "variables": variables}
    body = {"name": "backtrack", "type": "process", "base_job_template": template}
    # A generous liveness bound, not a benchmark: backtracking took minutes.
    detail = refused(live, lambda: admin.post("/work_pools/", json=body, timeout=5))
    assert "does not match" in detail
    variables["properties"]["x"]["pattern"] = "(a)\\1"
    variables["properties"]["x"]["default"] = "aa"
    detail = refused(live, lambda: admin.post("/work_pools/", json=body))
    assert "RE2" in detail and "pattern" in detail


class HeldStore:
    """The live store, except that reading the pool ``held`` waits for a release."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.entered = threading.Event()
        self.release = threading.Event()

    def get_pool(self, name: str) -> Any:
        if name == "held":
            self.entered.set()
            assert self.release.wait(60), "never released"
        return self._store.get_pool(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_health_and_other_requests_answer_while_a_slow_request_runs(live: LiveApi) -> None:
    """The local server held one lock around every request (issue 14)."""
    live.client(live.admin).post("/work_pools/", json={"name": "held", "type": "process"})
    held = HeldStore(live.store)
    container = bootstrap(store=held, settings=live.container.settings)  # type: ignore[arg-type]
    sock = bind("127.0.0.1", 0)
    server = BackgroundServer(container, sock)
    server.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    auth = {"Authorization": f"Bearer {live.admin}"}
    try:
        with ThreadPoolExecutor(1) as pool, httpx.Client(base_url=url, timeout=30) as http:
            slow = pool.submit(http.get, "/work_pools/held", headers=auth)
            assert held.entered.wait(30), "the slow request never reached the store"
            assert http.get("/health", timeout=5).json() is True
            assert http.get("/work_pools/hostile", headers=auth, timeout=5).status_code == 200
            assert not slow.done()
            held.release.set()
            assert slow.result(30).status_code == 200
    finally:
        held.release.set()
        server.stop()


def test_duplicate_concurrent_requests_create_once_and_claim_once(
    live: LiveApi, admin: httpx.Client
) -> None:
    """Without the global lock, the store's transactions alone decide races."""
    body = {"name": "raced", "type": "process"}
    with ThreadPoolExecutor(8) as pool:
        created = list(
            pool.map(lambda _: admin.post("/work_pools/", json=body).status_code, range(8))
        )
    assert sorted(created) == [201] + [409] * 7
    run = admin.post(f"/deployments/{live.deployment_id}/create_flow_run", json={}).json()
    pending = {"state": {"type": "PENDING"}}
    with ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(
                lambda _: admin.post(f"/flow_runs/{run['id']}/set_state", json=pending),
                range(8),
            )
        )
    assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
    assert [a.json()["status"] for a in answers].count("ACCEPT") == 1
