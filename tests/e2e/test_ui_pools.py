"""The pool pages in headless Chromium: the pools list's filters and sort,
upcoming runs with late ones and why each waits, workers, the template, edit
and delete.  Screenshots and console checks as in test_ui.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.e2e.browser import Ui, defaults, expect, seed_deployment, seed_pool

pytestmark = pytest.mark.slow


def test_the_pool_page_shows_late_runs_why_they_wait_and_its_worker(ui: Ui, api: httpx.Client):
    seed_pool(api, "blocked", concurrency_limit=0)
    deployment = seed_deployment(api, pool="blocked", name="blocked-job", command="true")
    past = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    for scheduled in (past, (datetime.now(UTC) + timedelta(minutes=20)).isoformat()):
        state = {"type": "SCHEDULED", "state_details": {"scheduled_time": scheduled}}
        api.post(f"/deployments/{deployment['id']}/create_flow_run", json={"state": state})
    page = ui.page
    ui.go("/pools/blocked?tab=upcoming")
    rows = page.locator("table tbody tr[data-run]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_class(re.compile("is-late"))
    expect(rows.first).to_contain_text("Late")
    expect(rows.first).to_contain_text("Waits: the pool's concurrency limit is reached")
    expect(rows.last).not_to_contain_text("Late")
    ui.shot("pool-upcoming")

    page.get_by_role("tab", name="Workers").click()
    expect(page.locator("table tbody tr").first).to_contain_text("Online", timeout=30_000)
    ui.shot("pool-workers")
    page.get_by_role("tab", name="Template").click()
    expect(page.get_by_role("cell", name="stream_output")).to_be_visible()
    ui.shot("pool-template")


def test_a_pool_is_edited_and_deleted_with_confirmation(ui: Ui, api: httpx.Client):
    seed_pool(api, "editable", description="before")
    page = ui.page
    ui.go("/pools/editable")
    page.get_by_role("link", name="Edit").click()
    expect(page.locator("#pool-name")).to_be_disabled()
    page.locator("#pool-description").fill("after")
    page.locator("#pool-limit").fill("7")
    page.get_by_label("Working Directory").fill("/tmp")
    ui.shot("pool-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name="editable", exact=True)).to_be_visible()
    pool = api.get("/work_pools/editable").json()
    assert (pool["description"], pool["concurrency_limit"]) == ("after", 7)
    assert defaults(api, "editable")["working_dir"] == "/tmp"

    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Delete work pool")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type editable to confirm").fill("editable")
    confirm.click()
    expect(page.get_by_role("heading", name="Work pools")).to_be_visible()
    assert api.get("/work_pools/editable").status_code == 404


def test_pools_are_filtered_by_name_and_type_and_sorted(ui: Ui, api: httpx.Client):
    for name, pool_type in (("sort-a", "process"), ("sort-b", "docker"), ("sort-c", "process")):
        assert api.post("/work_pools/", json={"name": name, "type": pool_type}).status_code == 201
    page = ui.page
    ui.go("/pools")
    names = page.locator("tbody tr[data-pool]")
    page.get_by_label("Name", exact=True).fill("sort-")
    expect(names).to_have_count(3)
    page.get_by_label("Type").select_option(label="Docker")
    expect(names).to_have_count(1)
    expect(names.first).to_have_attribute("data-pool", "sort-b")
    page.get_by_label("Type").select_option("")
    page.get_by_label("Sort by").select_option("-name")
    order = names.evaluate_all("rows => rows.map(r => r.dataset.pool)")
    assert order == ["sort-c", "sort-b", "sort-a"]
    assert "q=sort-" in page.url and "sort=-name" in page.url
    page.reload()  # the filters live in the URL
    expect(page.get_by_label("Name", exact=True)).to_have_value("sort-")
    expect(names).to_have_count(3)
    page.get_by_label("Name", exact=True).fill("no-such-pool")
    expect(page.get_by_text("No work pool matches these filters.")).to_be_visible()
