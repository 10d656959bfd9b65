"""The web UI in headless Chromium against `pushpool server --with-worker`.

Each test drives the browser the way a person would (labels, roles, keys) and
checks the end state through the API.  Every page is photographed at 1280 px
and 390 px into tests/e2e/screenshots/, and any console error fails the test.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import httpx
import pytest

from tests.e2e.browser import Ui, defaults, expect, seed_deployment, seed_pool, template_of

pytestmark = pytest.mark.slow

PYTHON = sys.executable


def test_an_empty_server_explains_what_a_work_pool_is(ui: Ui):
    ui.go("/pools")
    page = ui.page
    expect(page.get_by_role("heading", name="No work pools yet")).to_be_visible()
    expect(page.get_by_text("A work pool is where flow runs wait to be run")).to_be_visible()
    expect(page.get_by_role("link", name="Create your first work pool")).to_be_visible()
    ui.shot("pools-empty")


def test_pools_of_two_types_are_created_through_the_generated_form(ui: Ui, api: httpx.Client):
    page = ui.page
    ui.go("/pools")
    page.get_by_role("link", name="Create a work pool").click()
    expect(page.get_by_role("heading", name="Create a work pool")).to_be_visible()
    process_card = page.locator('[data-type="process"]')
    expect(process_card).to_contain_text("Execute flow runs as subprocesses")
    expect(process_card).to_contain_text("Pull")
    ui.shot("create-pool-types")

    process_card.click()
    page.locator("#pool-name").fill("local-e2e")
    page.locator("#pool-description").fill("Runs on the test machine")
    page.locator("#pool-limit").fill("3")
    page.get_by_label("Stream Output").uncheck()
    env = page.locator('.field[data-path="env"]')
    env.get_by_role("button", name="Add entry").click()
    page.get_by_label("Environment Variables: name 1").fill("GREETING")
    page.get_by_label("Environment Variables: value 1").fill("hello")
    ui.shot("create-pool-form")
    page.get_by_role("button", name="Create work pool").click()
    expect(page.get_by_role("heading", name="local-e2e", exact=True)).to_be_visible()
    assert page.url.endswith("#/pools/local-e2e")

    pool = api.get("/work_pools/local-e2e").json()
    assert (pool["type"], pool["concurrency_limit"], pool["description"]) == (
        "process",
        3,
        "Runs on the test machine",
    )
    assert defaults(api, "local-e2e") == {"stream_output": False, "env": {"GREETING": "hello"}}

    ui.go("/pools/new")
    page.locator("label[for='mode-push']").click()
    expect(page.locator('[data-type="process"]')).to_have_count(0)
    page.locator('[data-type="ecs:push"]').click()
    page.locator("#pool-name").fill("ecs-e2e")
    cpu = page.get_by_label("CPU", exact=True)
    expect(cpu).to_have_value("1024")
    expect(cpu).to_have_attribute("min", "128")
    cpu.fill("512")
    page.get_by_label("Launch Type").select_option("FARGATE_SPOT")
    page.get_by_label("Create paused").check()
    page.get_by_role("button", name="Create work pool").click()
    expect(page.locator(".page-head [data-status]")).to_have_attribute("data-status", "PAUSED")

    pool = api.get("/work_pools/ecs-e2e").json()
    assert (pool["type"], pool["is_paused"]) == ("ecs:push", True)
    chosen = defaults(api, "ecs-e2e")
    assert (chosen["cpu"], chosen["launch_type"], chosen["image"]) == (
        512,
        "FARGATE_SPOT",
        "python:3.12-slim",
    )


ADVANCED_TEMPLATE = {
    "job_configuration": {
        "image": "{{ image }}",
        "command": "{{ command }}",
        "retries": "{{ retries }}",
    },
    "variables": {
        "type": "object",
        "required": ["image"],
        "properties": {
            "image": {"type": "string", "title": "Image", "default": "python:3.12"},
            "command": {"type": "string"},
            "retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 9},
        },
    },
}


def test_the_advanced_tab_shows_errors_inline_until_the_template_is_fixed(
    ui: Ui, api: httpx.Client
):
    page = ui.page
    ui.allow_status(422)
    ui.go("/pools/new?type=docker")
    page.locator("#pool-name").fill("docker/bad")
    page.get_by_role("tab", name="Advanced").click()
    editor = page.get_by_role("textbox", name="Base job template JSON")
    expect(editor).to_have_value(re.compile('"job_configuration"'))
    status = page.locator(".editor-status")

    editor.fill('{\n  "job_configuration": {}\n  "variables": {}\n}')
    expect(status).to_contain_text("Line 3")
    expect(status).to_contain_text("Expected ',' or '}'")
    expect(page.locator(".ln-error")).to_have_text("3")

    broken = {**ADVANCED_TEMPLATE, "job_configuration": {"image": "{{ imag }}"}}
    editor.fill(json.dumps(broken, indent=2))
    expect(status).to_contain_text('undeclared variable "imag"')
    page.get_by_role("button", name="Create work pool").click()  # refused before sending
    expect(page.locator("#pool-name-error")).to_be_hidden()

    editor.fill(json.dumps(ADVANCED_TEMPLATE, indent=2))
    expect(status).to_contain_text("Valid template JSON")
    page.get_by_role("button", name="Create work pool").click()
    expect(page.locator("#pool-name-error")).to_contain_text("contains /")
    expect(page.locator("#pool-name")).to_have_attribute("aria-invalid", "true")

    page.locator("#pool-name").fill("docker-e2e")
    page.get_by_role("button", name="Create work pool").click()
    expect(status).to_contain_text("9 is greater than the maximum of 5")
    lines = json.dumps(ADVANCED_TEMPLATE, indent=2).splitlines()
    bad_default = 1 + next(i for i, line in enumerate(lines) if '"default": 9' in line)
    expect(page.locator(".ln-error")).to_have_text(str(bad_default))
    ui.shot("create-pool-advanced-error")

    editor.fill(json.dumps(ADVANCED_TEMPLATE, indent=2).replace('"default": 9', '"default": 2'))
    page.get_by_role("tab", name="Defaults").click()  # the form follows the edited template
    retries = page.get_by_label("retries")
    expect(retries).to_have_value("2")
    expect(retries).to_have_attribute("max", "5")
    expect(page.locator('.field[data-path="image"] .req')).to_have_count(1)
    page.get_by_role("button", name="Create work pool").click()
    expect(page.get_by_role("heading", name="docker-e2e", exact=True)).to_be_visible()
    stored = template_of(api, "docker-e2e")
    assert stored["variables"]["properties"]["retries"]["default"] == 2
    assert stored["job_configuration"] == ADVANCED_TEMPLATE["job_configuration"]


def test_a_pool_is_paused_and_resumed_from_its_page_and_the_list(ui: Ui, api: httpx.Client):
    seed_pool(api, "pausable")
    page = ui.page
    ui.go("/pools/pausable")
    status = page.locator(".page-head [data-status]")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(status).to_have_attribute("data-status", "PAUSED")
    assert api.get("/work_pools/pausable").json()["is_paused"] is True
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(status).not_to_have_attribute("data-status", "PAUSED")
    assert api.get("/work_pools/pausable").json()["is_paused"] is False

    ui.go("/pools")
    row = page.locator('tr[data-pool="pausable"]')
    row.get_by_role("switch", name="Pause pausable").click()
    expect(row.locator(".paused-marker")).to_be_visible()
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "PAUSED")
    assert api.get("/work_pools/pausable").json()["is_paused"] is True
    row.get_by_role("switch", name="Resume pausable").click()
    expect(row.locator(".paused-marker")).to_have_count(0)
    assert api.get("/work_pools/pausable").json()["is_paused"] is False


def queue_names(page: Any) -> Any:
    return page.locator(".queues-table tbody tr td:nth-child(2) strong")


def preview(dialog: Any) -> list[list[str]]:
    return dialog.locator(".order-preview li").evaluate_all(
        "items => items.map(li => [li.dataset.priority, li.dataset.queue])"
    )


def test_queues_are_added_and_reordered_with_the_resulting_order_shown(ui: Ui, api: httpx.Client):
    seed_pool(api, "queued")
    page = ui.page
    ui.go("/pools/queued")
    page.get_by_role("button", name="Create queue").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#queue-name").fill("critical")
    dialog.locator("#queue-priority").fill("1")
    assert preview(dialog) == [["1", "critical"], ["2", "default"]]
    expect(dialog.locator(".order-preview")).to_contain_text("was 1")
    dialog.locator("#queue-limit").fill("2")
    ui.shot("queue-dialog")
    dialog.get_by_role("button", name="Create queue").click()
    expect(queue_names(page)).to_have_text(["critical", "default"])

    page.get_by_role("button", name="Create queue").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#queue-name").fill("low")
    assert preview(dialog) == [["1", "critical"], ["2", "default"], ["3", "low"]]
    dialog.get_by_role("button", name="Create queue").click()
    expect(queue_names(page)).to_have_text(["critical", "default", "low"])

    page.get_by_role("button", name="Move low up").click()
    expect(queue_names(page)).to_have_text(["critical", "low", "default"])
    expect(page.locator(".toast").last).to_contain_text("1 critical, 2 low, 3 default")

    page.get_by_role("button", name="Edit queue default").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("#queue-priority").fill("1")
    assert preview(dialog) == [["1", "default"], ["2", "critical"], ["3", "low"]]
    dialog.get_by_role("button", name="Save queue").click()
    expect(queue_names(page)).to_have_text(["default", "critical", "low"])

    page.get_by_role("switch", name="Pause queue low").click()
    expect(page.locator('tr[data-queue="low"] [data-status]')).to_have_attribute(
        "data-status", "PAUSED"
    )
    expect(
        page.get_by_role("button", name=re.compile("default queue cannot be deleted"))
    ).to_be_disabled()
    page.get_by_role("button", name="Delete queue critical", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete queue").click()
    expect(queue_names(page)).to_have_text(["default", "low"])
    expect(page.locator(".slot-list li")).to_have_count(2)
    ui.shot("pool-queues")

    queues = {q["name"]: q for q in api.post("/work_pools/queued/queues/filter", json={}).json()}
    assert {n: (q["priority"], q["is_paused"]) for n, q in queues.items()} == {
        "default": (1, False),
        "low": (3, True),
    }


def test_a_deployment_runs_with_validated_overrides_and_completes(ui: Ui, api: httpx.Client):
    ui.allow_status(422)
    seed_pool(api, "runner")
    command = f"{PYTHON} -c \"import os; print(os.environ['GREETING'])\""
    variables = {"env": {"GREETING": "hi", "DB_PASSWORD": "hunter2"}}
    seed_deployment(api, pool="runner", name="hello", command=command, job_variables=variables)
    page = ui.page
    ui.go("/deployments")
    row = page.locator('tr[data-deployment="hello"]')
    expect(row).to_contain_text("runner")
    expect(row).not_to_contain_text("hunter2")
    ui.shot("deployments")
    row.get_by_role("button", name="Run etl/hello").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator('.field[data-path="stream_output"]')).to_contain_text("Default: on")
    expect(dialog.locator('.field[data-path="env"]')).to_contain_text('"GREETING":"hi"')
    expect(dialog).not_to_contain_text("hunter2")
    dialog.get_by_role("tab", name="JSON").click()
    overrides = dialog.get_by_label("Job variable overrides (JSON)")
    overrides.fill('{"nope": 1}')
    dialog.get_by_role("button", name="Run now").click()
    expect(dialog.get_by_role("alert")).to_contain_text("unknown job variable(s) nope")
    overrides.fill('{"env": {"GREETING": "from the UI"}}')
    ui.shot("run-dialog")
    dialog.get_by_role("button", name="Run now").click()

    state = page.locator(".page-head [data-state]")
    expect(state).to_have_attribute("data-state", "COMPLETED", timeout=60_000)
    history = page.locator(".timeline li")
    expect(history.first).to_have_attribute("data-state", "COMPLETED")
    expect(history.last).to_have_attribute("data-state", "SCHEDULED")
    expect(page.locator(".copyable code")).to_have_text(re.compile(r"^\d+:\d+$"))
    config = page.get_by_label("Rendered job configuration")
    expect(config).to_contain_text('"GREETING": "from the UI"')
    expect(config).to_contain_text('"PUSHPOOL_RUN_TOKEN": "********"')
    expect(config).to_contain_text('"DB_PASSWORD": "********"')
    expect(config).not_to_contain_text("hunter2")
    ui.shot("run-completed")
    run_id = page.url.rsplit("/", 1)[1]
    run = api.get(f"/flow_runs/{run_id}").json()
    assert (run["state_type"], run["job_variables"]) == (
        "COMPLETED",
        {"env": {"GREETING": "from the UI"}},
    )


def test_a_running_run_is_cancelled_from_its_page(ui: Ui, api: httpx.Client):
    seed_pool(api, "sleepy")
    command = f'{PYTHON} -c "import time; time.sleep(120)"'
    deployment = seed_deployment(api, pool="sleepy", name="nap", command=command)
    run = api.post(f"/deployments/{deployment['id']}/create_flow_run", json={}).json()
    page = ui.page
    ui.go(f"/runs/{run['id']}")
    state = page.locator(".page-head [data-state]")
    expect(state).to_have_attribute("data-state", "RUNNING", timeout=30_000)
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    expect(state).to_have_attribute("data-state", "CANCELLED", timeout=30_000)
    expect(page.locator('.timeline li[data-state="CANCELLING"]')).to_have_count(1)
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    ui.shot("run-cancelled")
    assert api.get(f"/flow_runs/{run['id']}").json()["state_type"] == "CANCELLED"


def test_flow_runs_are_filtered_and_refreshed_live(ui: Ui, api: httpx.Client):
    seed_pool(api, "listed")
    api.post("/work_pools/listed/queues", json={"name": "side"})
    deployment = seed_deployment(api, pool="listed", name="listed-job", command=f"{PYTHON} -c pass")
    first = api.post(f"/deployments/{deployment['id']}/create_flow_run", json={"name": "first-run"})
    assert first.status_code == 201
    page = ui.page
    ui.go("/runs?pool=listed")
    rows = page.locator(".runs-table tbody tr")
    expect(rows).to_have_count(1)
    later = {"name": "side-run", "work_queue_name": "side"}
    later["state"] = {
        "type": "SCHEDULED",
        "state_details": {"scheduled_time": "2099-01-01T00:00:00Z"},
    }
    api.post(f"/deployments/{deployment['id']}/create_flow_run", json=later)
    expect(rows).to_have_count(2)  # appears without a reload
    expect(page.locator('tr[data-run="first-run"]')).to_have_attribute(
        "data-state", "COMPLETED", timeout=30_000
    )

    page.get_by_label("Queue").select_option("side")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run", "side-run")
    page.get_by_label("Queue").select_option("")
    page.get_by_label("State").select_option("COMPLETED")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-run", "first-run")
    assert "state=COMPLETED" in page.url
    page.get_by_label("State").select_option("")
    page.get_by_label("Deployment").select_option(label="etl/listed-job")
    expect(rows).to_have_count(2)
    ui.shot("runs")


def test_a_push_pool_is_ready_without_a_worker_and_shows_why_once_dispatch_fails(
    ui: Ui, api: httpx.Client
):
    seed_pool(api, "gcp-push", type="cloud-run-v2:push")
    page = ui.page
    ui.go("/pools")
    row = page.locator('tr[data-pool="gcp-push"]')
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "READY")

    # No project in the template and no service-account key: every submission fails.
    deployment = seed_deployment(api, pool="gcp-push", name="no-project", command="true")
    created = api.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
    assert created.status_code == 201, created.text
    for _ in range(100):
        pool = api.get("/work_pools/gcp-push").json()
        if pool["status"] == "NOT_READY":
            break
        page.wait_for_timeout(100)
    assert "needs 'project'" in pool["status_reason"]

    ui.go("/pools")
    expect(row.locator("[data-status]")).to_have_attribute("data-status", "NOT_READY")
    expect(row.locator("[data-status-reason]")).to_contain_text("needs 'project'")
    ui.go("/pools/gcp-push")
    expect(page.locator("[data-status-reason]")).to_contain_text("Not ready: the last dispatch")
    description = page.locator("dt:text-is('Description') + dd")
    expect(description).to_have_text("No description")  # not Python's "None"
    expect(page.locator("[data-status-reason]")).to_contain_text("needs 'project'")
    ui.shot("pool-push-not-ready")


def test_the_pool_page_shows_its_late_run_policy_and_which_runs_it_will_skip(
    ui: Ui, api: httpx.Client
):
    seed_pool(api, "backlog", is_paused=True)
    assert api.patch("/work_pools/backlog", json={"late_runs": "skip_after 30m"}).status_code == 204
    deployment = seed_deployment(api, pool="backlog", name="hourly", command="true")
    created = api.post(
        f"/deployments/{deployment['id']}/create_flow_run",
        json={
            "state": {
                "type": "SCHEDULED",
                "state_details": {"scheduled_time": "2020-01-01T00:00:00Z"},
            }
        },
    )
    assert created.status_code == 201, created.text
    stale = created.json()
    page = ui.page
    ui.go("/pools/backlog")
    expect(page.locator("[data-late-runs]")).to_have_text("skip_after 30m")
    page.get_by_role("tab", name="Upcoming runs").click()
    row = page.locator(f'tr[data-run="{stale["name"]}"]')
    expect(row).to_contain_text("Skipped by the late-run policy 'skip_after 30m'")
    ui.shot("pool-late-runs")

    assert api.patch("/work_pools/backlog", json={"is_paused": False}).status_code == 204
    for _ in range(100):
        run = api.get(f"/flow_runs/{stale['id']}").json()
        if run["state_type"] == "CANCELLED":
            break
        page.wait_for_timeout(100)
    assert (run["state_type"], run["state_name"]) == ("CANCELLED", "Skipped")
    ui.go(f"/runs/{stale['id']}")
    expect(page.get_by_text("Skipped by the late-run policy").first).to_be_visible()

    patched = api.patch(f"/deployments/{deployment['id']}", json={"late_runs": "latest_only"})
    assert patched.status_code == 204
    ui.go("/deployments")
    expect(page.locator("[data-late-runs]")).to_have_text("late runs: latest_only")


def test_the_run_page_follows_the_runs_logs_while_it_runs_and_keeps_them_after(
    ui: Ui, api: httpx.Client, tmp_path
):
    seed_pool(api, "chatty")
    gate = tmp_path / "gate"
    script = tmp_path / "chatty.py"
    script.write_text(
        "import os, sys, time\n"
        "print('warming up <b>not html</b>', flush=True)\n"
        "deadline = time.monotonic() + 60\n"
        f"while not os.path.exists({str(gate)!r}) and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "for i in range(3):\n"
        "    print(f'step {i}', flush=True)\n"
        "print('all done', flush=True)\n"
    )
    deployment = seed_deployment(api, pool="chatty", name="talk", command=f"{PYTHON} {script}")
    run = api.post(f"/deployments/{deployment['id']}/create_flow_run", json={}).json()
    page = ui.page
    ui.go(f"/runs/{run['id']}")
    logs = page.get_by_role("log", name="Run logs")
    lines = logs.locator(".log-line")
    expect(lines).to_have_count(1, timeout=30_000)
    expect(lines.first).to_contain_text("warming up <b>not html</b>")
    expect(page.locator(".page-head [data-state]")).to_have_attribute("data-state", "RUNNING")
    expect(page.get_by_role("status").filter(has_text="Following")).to_be_visible()
    ui.shot("run-logs-running")

    gate.touch()  # the flow goes on: the page shows its next lines without a reload
    expect(lines).to_have_count(5, timeout=30_000)
    expect(lines.last).to_contain_text("all done")
    expect(page.locator(".page-head [data-state]")).to_have_attribute(
        "data-state", "COMPLETED", timeout=30_000
    )
    expect(page.locator('[data-following="false"]')).to_have_count(1, timeout=15_000)
    ui.shot("run-logs-completed")

    ui.go(f"/runs/{run['id']}")  # after the run: the same lines, each once
    expect(lines).to_have_count(5)
    assert [t.split("\n")[-1].strip() for t in lines.all_inner_texts()][1:4] == [
        "step 0",
        "step 1",
        "step 2",
    ]
