"""The UI's quality bars in a real browser: failed and slow API calls show a
message, the token is asked for once, everything works from the keyboard, the
browser-side rules agree with the server's, and the README's screenshot."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.models import WorkQueue
from core.rules.queues import place
from core.services.job_view import mask_secrets
from tests.e2e.browser import (
    ROOT,
    Server,
    Ui,
    expect,
    open_ui,
    seed_deployment,
    seed_pool,
    start_server,
)

pytestmark = pytest.mark.slow
README_SHOT = ROOT / "docs" / "screenshots" / "pools.png"


def test_a_failed_api_call_shows_what_went_wrong_and_retry_recovers(ui: Ui, api: httpx.Client):
    seed_pool(api, "sturdy")
    ui.allow_status(500)
    page = ui.page
    failing = "**/api/work_pools/filter"
    page.route(
        failing,
        lambda route: route.fulfill(
            status=500, content_type="application/json", body='{"detail": "the store is down"}'
        ),
    )
    page.goto(f"{ui.server.url}/#/pools")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Something went wrong")
    expect(alert).to_contain_text("the store is down")
    expect(page.get_by_role("heading", name="This page could not load")).to_be_visible()
    ui.shot("api-error")
    page.unroute(failing)
    page.get_by_role("button", name="Retry").click()
    expect(page.locator('tr[data-pool="sturdy"]')).to_be_visible()


def test_an_unreachable_api_says_so(ui: Ui):
    page = ui.page
    page.route("**/api/work_pools/filter", lambda route: route.abort("connectionrefused"))
    ui.allow_text("ERR_CONNECTION_REFUSED")
    page.goto(f"{ui.server.url}/#/pools")
    expect(page.get_by_role("alert")).to_contain_text("The API is unreachable")
    expect(page.get_by_role("alert")).to_contain_text("Check that the server is running")


def test_a_slow_api_call_says_the_ui_is_waiting(ui: Ui):
    page = ui.page
    held: list[Any] = []

    def hold(route: Any) -> None:  # answer later: the request hangs until then
        held.append(route)

    page.route("**/api/work_pools/filter", hold)
    page.goto(f"{ui.server.url}/#/pools")
    expect(page.get_by_role("status").filter(has_text="Waiting for the API")).to_be_visible()
    expect(page.get_by_text("the API is slow to answer")).to_be_visible(timeout=10_000)
    for route in held:
        route.continue_()
    page.unroute("**/api/work_pools/filter")
    expect(page.get_by_role("heading", name="Work pools")).to_be_visible()
    expect(page.get_by_text("Waiting for the API")).to_be_hidden()


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    server = start_server(tmp_path / "secured.db", "--auth")
    try:
        created = subprocess.run(
            [sys.executable, "-m", "handlers.cli", "token", "create", "--store", server.store_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        yield server, created.stdout.strip().splitlines()[-1]
    finally:
        server.stop()


def test_the_token_is_asked_for_once_and_kept_for_the_session(browser: Any, secured):
    server, token = secured
    with open_ui(browser, server) as ui:
        ui.allow_status(401)
        page = ui.page
        page.goto(f"{server.url}/#/pools")
        dialog = page.get_by_role("dialog", name="API token")
        expect(dialog).to_contain_text("This server requires an API token")
        ui.shot("token-dialog")
        dialog.get_by_label("Bearer token").fill("wrong")
        dialog.get_by_role("button", name="Save").click()
        expect(page.get_by_role("dialog", name="API token")).to_contain_text("refused the token")
        page.get_by_label("Bearer token").fill(token)
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="No work pools yet")).to_be_visible()
        assert page.evaluate("sessionStorage.getItem('pushpool.token')") == token
        page.reload()
        expect(page.get_by_role("heading", name="No work pools yet")).to_be_visible()
        expect(page.get_by_role("dialog")).to_have_count(0)
        expect(
            page.get_by_role("button", name="API token (set); change or forget it")
        ).to_be_visible()


def tab_until(page: Any, script: str, limit: int = 60) -> None:
    """Press Tab until `script` (about document.activeElement) is true."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(
            f"(() => {{ const el = document.activeElement; return Boolean({script}); }})()"
        ):
            return
    raise AssertionError(f"Tab never reached an element where {script}")


def test_a_pool_is_created_and_paused_with_the_keyboard_alone(ui: Ui, api: httpx.Client):
    page = ui.page
    ui.go("/pools")
    tab_until(page, "el.getAttribute('aria-label') === 'Create a work pool'")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused link shows no focus ring"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create a work pool")).to_be_focused()
    tab_until(page, "el.dataset.type === 'process'")
    page.keyboard.press("Enter")
    tab_until(page, "el.id === 'pool-name'")
    page.keyboard.type("typed-pool")
    page.keyboard.press("Enter")  # submits the form
    expect(page.get_by_role("heading", name="typed-pool", exact=True)).to_be_focused()
    tab_until(page, "el.textContent.trim() === 'Pause'")
    page.keyboard.press("Enter")
    expect(page.locator(".page-head [data-status]")).to_have_attribute("data-status", "PAUSED")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_focused()
    tab_until(
        page, "el.getAttribute('role') === 'tab' && el.getAttribute('aria-selected') === 'true'"
    )
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Upcoming runs")).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Escape")
    assert api.get("/work_pools/typed-pool").json()["is_paused"] is True


def test_dialogs_trap_focus_and_close_with_escape(ui: Ui, api: httpx.Client):
    seed_pool(api, "dialogs")
    page = ui.page
    ui.go("/pools/dialogs")
    opener = page.get_by_role("button", name="Create queue")
    opener.click()
    expect(page.locator("#queue-name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()


def queue(name: str, priority: int) -> WorkQueue:
    now = datetime.now(UTC)
    return WorkQueue(id=name, pool_id="p", name=name, priority=priority, created=now, updated=now)


def test_the_priority_preview_agrees_with_the_server_rule(ui: Ui):
    """The dialog's "resulting order" is computed in the browser; it must match core.rules.queues.place."""
    ui.go("/pools")
    rng = random.Random(7)
    for _ in range(60):
        priorities = rng.sample(range(1, 9), rng.randint(1, 6))
        queues = [queue(f"q{i}", p) for i, p in enumerate(priorities)]
        moving = rng.choice([*queues, queue("new", 1)])
        wanted = rng.choice([None, *range(1, 10)])
        changed = {q.id: q.priority for q in place(queues, moving, wanted)}
        expected = sorted(
            [(changed.get(q.id, q.priority), q.id) for q in queues if q.id != moving.id]
            + [(changed.get(moving.id, moving.priority), moving.id)]
        )
        browser_order = ui.page.evaluate(
            """async ([queues, target, wanted]) => {
                const { resultingOrder } = await import("./assets/queues.js");
                return resultingOrder(queues, target, wanted).map((q) => [q.priority, q.id]);
            }""",
            [
                [{"id": q.id, "name": q.name, "priority": q.priority} for q in queues],
                {"id": moving.id, "name": moving.name},
                wanted,
            ],
        )
        assert [tuple(x) for x in browser_order] == expected, (priorities, moving.id, wanted)


def test_the_browser_masks_what_the_server_masks(ui: Ui):
    ui.go("/pools")
    sample = {
        "env": {"DB_PASSWORD": "x", "REGION": "eu", "PUSHPOOL_RUN_TOKEN": "t", "api-key": "k"},
        "containers": [
            {"env": [{"name": "GITHUB_TOKEN", "value": "g"}, {"name": "A", "value": "b"}]}
        ],
        "secrets": ["modal-secret"],
        "keep_job": True,
        "shapes": {
            "PRIMARY": "postgresql://admin:hunter2@db.internal:5432/app",
            "HEADER": "Bearer abcdefghijk",
            "OPAQUE": "Zk3vR9qLw2Xp8Ty6Nc4Bm1Hd7Gf5Js0K",
            "RUN": "0b5c3f7e-3c1a-4b43-9d51-7075736870a1",
            "DATABASE_URL": "sqlite:///x.db",
        },
        "args": ["--token", "AKIAIOSFODNN7EXAMPLE", "plain"],
    }
    masked = ui.page.evaluate(
        """async (value) => (await import("./assets/dom.js")).maskSecrets(value)""", sample
    )
    assert masked == mask_secrets(sample)[0]


def test_the_pools_page_for_the_readme(browser: Any, tmp_path: Path):
    """A small, realistic set of pools; the 1280 px shot is committed as docs/screenshots/pools.png."""
    server = start_server(tmp_path / "readme.db", "--with-worker")
    try:
        with server.api() as api:
            seed_pool(api, "local", concurrency_limit=4, description="Subprocesses on this machine")
            for name, body in {
                "ecs-prod": {
                    "type": "ecs:push",
                    "concurrency_limit": 20,
                    "description": "Fargate tasks in eu-west-1",
                },
                "cloud-run-batch": {
                    "type": "cloud-run-v2:push",
                    "description": "Nightly batch jobs",
                },
                "gpu-training": {"type": "kubernetes", "concurrency_limit": 2, "is_paused": True},
                "managed": {"type": "managed", "concurrency_limit": 10},
            }.items():
                assert api.post("/work_pools/", json={"name": name, **body}).status_code == 201
            command = f'{sys.executable} -c "import time; time.sleep(30)"'
            deployment = seed_deployment(api, pool="local", name="report", command=command)
            runs = [
                api.post(f"/deployments/{deployment['id']}/create_flow_run", json={}).json()
                for _ in range(3)
            ]
            with open_ui(browser, server) as ui:
                ui.go("/pools")
                expect(ui.page.locator('tr[data-pool="local"] [role="meter"]')).to_have_attribute(
                    "aria-valuenow", "3", timeout=30_000
                )
                for ready in ("local", "ecs-prod", "cloud-run-batch", "managed"):
                    expect(
                        ui.page.locator(f'tr[data-pool="{ready}"] [data-status]')
                    ).to_have_attribute("data-status", "READY")
                ui.shot("pools")
                ui.publish("pools", README_SHOT)
            for run in runs:
                cancel = {"state": {"type": "CANCELLING", "message": "screenshot taken"}}
                api.post(f"/flow_runs/{run['id']}/set_state", json=cancel)
    finally:
        server.stop()
    assert README_SHOT.stat().st_size > 10_000
