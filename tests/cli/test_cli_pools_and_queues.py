"""`pushpool work-pool` and `work-queue` against a live server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.api.support import Env
from tests.cli.conftest import Run, as_json

TEMPLATE = {
    "job_configuration": {"command": "{{ command }}"},
    "variables": {"type": "object", "properties": {"command": {"type": "string"}}},
}


def test_work_pool_create_ls_inspect(cli: Run):
    created = cli("work-pool", "create", "etl", "--type", "process", "--concurrency-limit", "3")
    assert "Created work pool 'etl'" in created.output
    table = cli("work-pool", "ls").output
    assert "Work Pools" in table and "etl" in table and "process" in table
    assert "(**) denotes a paused pool" in table
    [pool] = as_json(cli("work-pool", "ls", "-o", "json"))
    assert (pool["name"], pool["concurrency_limit"]) == ("etl", 3)
    inspected = cli("work-pool", "inspect", "etl").output
    assert inspected.startswith("WorkPool(") and "name='etl'" in inspected and "ago" in inspected
    assert as_json(cli("work-pool", "inspect", "etl", "-o", "json"))["id"] == pool["id"]


def test_work_pool_create_with_template_file_and_set_as_default(cli: Run, tmp_path: Path):
    path = tmp_path / "template.json"
    path.write_text(json.dumps(TEMPLATE))
    cli(
        "work-pool",
        "create",
        "mine",
        "--base-job-template",
        str(path),
        "--set-as-default",
        "--paused",
    )
    pool = as_json(cli("work-pool", "inspect", "mine", "-o", "json"))
    assert pool["base_job_template"] == TEMPLATE and pool["is_paused"] is True
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile["default_work_pool"] == "mine"
    # work-queue commands now default to that pool
    cli("work-queue", "create", "fast", "--priority", "1")
    assert [q["name"] for q in as_json(cli("work-queue", "ls", "-o", "json"))] == [
        "fast",
        "default",
    ]


def test_work_pool_update_pause_resume_limits_delete(cli: Run, tmp_path: Path):
    cli("work-pool", "create", "p")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(TEMPLATE))
    cli(
        "work-pool",
        "update",
        "p",
        "--description",
        "nightly",
        "--concurrency-limit",
        "5",
        "--base-job-template",
        str(path),
    )
    pool = as_json(cli("work-pool", "inspect", "p", "-o", "json"))
    assert (pool["description"], pool["concurrency_limit"], pool["base_job_template"]) == (
        "nightly",
        5,
        TEMPLATE,
    )
    cli("work-pool", "pause", "p")
    assert "p (**)" in cli("work-pool", "ls").output
    cli("work-pool", "resume", "p")
    cli("work-pool", "set-concurrency-limit", "p", "2")
    assert as_json(cli("work-pool", "inspect", "p", "-o", "json"))["concurrency_limit"] == 2
    cli("work-pool", "clear-concurrency-limit", "p")
    assert as_json(cli("work-pool", "inspect", "p", "-o", "json"))["concurrency_limit"] is None
    assert "Deleted work pool 'p'" in cli("work-pool", "delete", "p").output
    assert as_json(cli("work-pool", "ls", "-o", "json")) == []


def test_work_pool_errors_are_one_line_and_exit_one(cli: Run, tmp_path: Path):
    missing = cli("work-pool", "inspect", "ghost", code=1)
    assert missing.output.strip().count("\n") == 0
    assert "Error:" in missing.output and "ghost" in missing.output
    cli("work-pool", "create", "p")
    assert "already exists" in cli("work-pool", "create", "p", code=1).output
    assert "reserved" in cli("work-pool", "create", "prefect-pool", code=1).output
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    assert (
        "not valid JSON"
        in cli("work-pool", "create", "q", "--base-job-template", str(bad), code=1).output
    )
    assert "nothing to update" in cli("work-pool", "update", "p", code=1).output


def test_work_pool_create_overwrite_updates(cli: Run):
    cli("work-pool", "create", "p", "--concurrency-limit", "1")
    assert (
        "Updated"
        in cli("work-pool", "create", "p", "--overwrite", "--concurrency-limit", "7").output
    )
    assert as_json(cli("work-pool", "inspect", "p", "-o", "json"))["concurrency_limit"] == 7


def test_an_unreachable_api_is_one_clear_line(cli: Run):
    result = cli("--api-url", "http://127.0.0.1:9/api", "work-pool", "ls", code=1)
    assert "cannot reach the pushpool API" in result.output


def test_work_queue_verbs(cli: Run):
    cli("work-pool", "create", "p")
    assert (
        "priority 1"
        in cli(
            "work-queue", "create", "urgent", "--pool", "p", "--priority", "1", "--limit", "2"
        ).output
    )
    cli("work-queue", "create", "bulk", "-p", "p", "-d", "batch jobs")
    table = cli("work-queue", "ls", "--pool", "p").output
    assert table.index("urgent") < table.index("default") < table.index("bulk")
    cli("work-queue", "update", "bulk", "--pool", "p", "--priority", "1")
    assert [q["name"] for q in as_json(cli("work-queue", "ls", "-p", "p", "-o", "json"))] == [
        "bulk",
        "urgent",
        "default",
    ]
    cli("work-queue", "pause", "bulk", "-p", "p")
    assert (
        as_json(cli("work-queue", "inspect", "bulk", "-p", "p", "-o", "json"))["status"] == "PAUSED"
    )
    assert "WorkQueue(" in cli("work-queue", "inspect", "bulk", "-p", "p").output
    cli("work-queue", "resume", "bulk", "-p", "p")
    cli("work-queue", "set-concurrency-limit", "bulk", "4", "-p", "p")
    assert (
        as_json(cli("work-queue", "inspect", "bulk", "-p", "p", "-o", "json"))["concurrency_limit"]
        == 4
    )
    cli("work-queue", "clear-concurrency-limit", "bulk", "-p", "p")
    assert (
        as_json(cli("work-queue", "inspect", "bulk", "-p", "p", "-o", "json"))["concurrency_limit"]
        is None
    )
    assert "default queue" in cli("work-queue", "delete", "default", "-p", "p", code=1).output
    cli("work-queue", "delete", "bulk", "-p", "p")
    assert "--pool" in cli("work-queue", "ls", code=2).output


def test_slots_and_preview(cli: Run, env: Env, tmp_path: Path):
    cli("work-pool", "create", "p", "--concurrency-limit", "1")
    cli("work-queue", "create", "q", "-p", "p", "--limit", "1")
    (tmp_path / "pushpool.yaml").write_text(
        "deployments:\n  - name: d\n    command: echo hi\n    work_pool: {name: p, work_queue_name: q}\n"
    )
    cli("deployment", "apply", str(tmp_path / "pushpool.yaml"))
    first = as_json(cli("deployment", "run", "d", "-o", "json"))
    second = as_json(cli("deployment", "run", "d", "-o", "json"))
    env.http.post(f"/flow_runs/{first['id']}/set_state", json={"state": {"type": "RUNNING"}})
    slots = cli("work-pool", "slots", "p").output
    assert "1 / 1" in slots and first["name"] in slots
    status = as_json(cli("work-pool", "slots", "p", "-o", "json"))
    assert status["active_slots"] == 1
    preview = as_json(cli("work-pool", "preview", "p", "--hours", "1", "-o", "json"))
    assert [(i["flow_run"]["id"], i["reason"]) for i in preview] == [(second["id"], "queue full")]
    table = cli("work-pool", "preview", "p").output
    assert "queue full" in table and "(**) denotes a late run" in table
    env.clock.advance(seconds=30)
    assert "(**)" in cli("work-pool", "preview", "p").output.split("denotes")[0]
    queue_preview = as_json(cli("work-queue", "preview", "default", "-p", "p", "-o", "json"))
    assert queue_preview == []


def test_create_without_a_type_says_it_made_a_process_pool_and_names_the_others(cli: Run):
    created = cli("work-pool", "create", "plain").output
    assert "of type 'process'" in created
    assert "No --type was given, so it is a 'process' pool" in created
    assert "ecs:push" in created and "vertex-ai" in created
    typed = cli("work-pool", "create", "typed", "--type", "process").output
    assert "No --type was given" not in typed


def test_both_unknown_type_errors_list_the_types_in_the_same_words_and_order(cli: Run):
    on_create = cli("work-pool", "create", "x", "--type", "bogus", code=1).output
    on_template = cli("work-pool", "get-default-base-job-template", "--type", "bogus", code=1)
    listing = "unknown work pool type 'bogus'; valid types are: process, docker, kubernetes, ecs,"
    assert listing in " ".join(on_create.split())
    assert listing in " ".join(on_template.output.split())
    assert listed_types(on_create) == listed_types(on_template.output)


def listed_types(error: str) -> str:
    return " ".join(error.split()).split("valid types are: ")[1]


def test_inspect_says_why_a_pool_is_not_ready(cli: Run):
    cli("work-pool", "create", "idle", "--type", "process")
    inspected = cli("work-pool", "inspect", "idle").output
    assert "status='NOT_READY'" in inspected
    assert "status_reason='no worker has sent a heartbeat recently'" in inspected


def test_output_json_may_come_before_the_subcommand_and_the_commands_own_wins(cli: Run):
    cli("work-pool", "create", "early", "--type", "process")
    [pool] = as_json(cli("-o", "json", "work-pool", "ls"))
    assert pool["name"] == "early"
    assert as_json(cli("--output", "json", "work-pool", "inspect", "early"))["name"] == "early"
    table = cli("-o", "json", "work-pool", "ls", "-o", "table").output
    assert "Work Pools" in table
    assert "Work Pools" in cli("work-pool", "ls").output  # not remembered across invocations


def test_help_shows_argument_names_and_no_type_on_flags(cli: Run):
    shown = cli("work-pool", "create", "--help").output
    assert "Usage: pushpool work-pool create [OPTIONS] NAME" in " ".join(shown.split())
    assert "{name}" not in shown and "<bool>" not in shown
    limit = cli("work-pool", "set-concurrency-limit", "--help").output
    assert "{" not in limit.split("Usage:")[1].splitlines()[0]
