"""`pushpool deployment`, `flow-run`, `token` and `config` against a live server."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.support import Env
from tests.cli.conftest import Run, as_json

PUSHPOOL_YAML = """
deployments:
  - name: nightly
    entrypoint: flows/etl.py:run_etl
    parameters: {day: monday}
    schedules:
      - cron: "0 3 * * *"
        timezone: Europe/Paris
      - interval: 3600
        active: false
    work_pool:
      name: p
      work_queue_name: reports
      job_variables: {env: {MODE: batch}}
  - name: adhoc
    command: echo hello
    work_pool: {name: p}
"""


def apply(cli: Run, tmp_path: Path, text: str = PUSHPOOL_YAML) -> str:
    path = tmp_path / "pushpool.yaml"
    path.write_text(text)
    return cli("deployment", "apply", str(path)).output


def test_apply_reads_prefect_style_deployments(cli: Run, tmp_path: Path):
    cli("work-pool", "create", "p")
    output = apply(cli, tmp_path)
    assert "run-etl/nightly" in output and "adhoc/adhoc" in output
    nightly = as_json(cli("deployment", "inspect", "run-etl/nightly", "-o", "json"))
    assert nightly["work_queue_name"] == "reports"
    # A file.py:function entrypoint on a process pool runs from the project's directory.
    assert nightly["job_variables"] == {"env": {"MODE": "batch"}, "working_dir": str(tmp_path)}
    assert nightly["parameters"] == {"day": "monday"}
    assert [s["active"] for s in nightly["schedules"]] == [True, False]
    assert nightly["schedules"][0]["schedule"]["timezone"] == "Europe/Paris"
    assert "reports" in cli("work-queue", "ls", "-p", "p").output
    # Applying again updates in place.
    apply(cli, tmp_path, PUSHPOOL_YAML.replace("monday", "tuesday"))
    again = as_json(cli("deployment", "inspect", "nightly", "-o", "json"))
    assert (again["id"], again["parameters"]) == (nightly["id"], {"day": "tuesday"})


def test_apply_refuses_bad_files_with_the_field_to_fix(cli: Run, tmp_path: Path):
    cli("work-pool", "create", "p")
    path = tmp_path / "pushpool.yaml"
    path.write_text("deployments:\n  - name: x\n    command: echo\n")
    assert (
        "deployments[0].work_pool.name is required"
        in cli("deployment", "apply", str(path), code=1).output
    )
    path.write_text("deployments: [")
    assert "not valid YAML" in cli("deployment", "apply", str(path), code=1).output
    path.write_text(
        "deployments:\n  - name: x\n    work_pool: {name: p, job_variables: {nope: 1}}\n"
    )
    assert "nope" in cli("deployment", "apply", str(path), code=1).output


def test_ls_inspect_run_and_delete(cli: Run, env: Env, tmp_path: Path):
    cli("work-pool", "create", "p")
    apply(cli, tmp_path)
    table = cli("deployment", "ls").output
    assert "run-etl/nightly" in table and "adhoc/adhoc" in table
    assert len(as_json(cli("deployment", "ls", "-o", "json"))) == 2
    assert "Deployment(" in cli("deployment", "inspect", "adhoc").output
    run = as_json(
        cli("deployment", "run", "nightly", "--param", "day=friday", "--param", "n=3",
            "--job-variable", 'env={"X": "1"}', "--start-in", "5m", "-o", "json")
    )  # fmt: skip
    assert run["parameters"] == {"day": "friday", "n": 3}
    assert run["job_variables"] == {"env": {"X": "1"}}
    due = datetime.fromisoformat(run["expected_start_time"])
    assert timedelta(minutes=4) < due - env.clock() < timedelta(minutes=6)
    assert "Created flow run" in cli("deployment", "run", "adhoc", "--queue", "reports").output
    refused = cli("deployment", "run", "adhoc", "-q", "reallynot", code=1).output
    assert "no queue 'reallynot'" in refused and "default, reports" in refused
    assert "reallynot" not in cli("work-queue", "ls", "--pool", "p").output
    assert "cannot read" in cli("deployment", "run", "adhoc", "--start-in", "soon", code=1).output
    assert "no deployment named" in cli("deployment", "run", "ghost", code=1).output
    assert "Deleted deployment adhoc/adhoc" in cli("deployment", "delete", "adhoc/adhoc").output
    assert len(as_json(cli("deployment", "ls", "-o", "json"))) == 1


def test_flow_run_ls_inspect_cancel(cli: Run, tmp_path: Path):
    cli("work-pool", "create", "p")
    apply(cli, tmp_path)
    run = as_json(cli("deployment", "run", "adhoc", "-o", "json"))
    other = as_json(cli("deployment", "run", "adhoc", "--start-in", "1h", "-o", "json"))
    table = cli("flow-run", "ls").output
    assert run["name"] in table and "Scheduled" in table
    listed = as_json(cli("flow-run", "ls", "--pool", "p", "--state", "scheduled", "-o", "json"))
    assert {r["id"] for r in listed} == {run["id"], other["id"]}
    assert "FlowRun(" in cli("flow-run", "inspect", run["id"]).output
    assert "Cancelled" in cli("flow-run", "cancel", run["id"]).output
    assert as_json(cli("flow-run", "inspect", run["id"], "-o", "json"))["state_type"] == "CANCELLED"
    assert "was not cancelled" in cli("flow-run", "cancel", run["id"], code=1).output
    assert "not found" in cli("flow-run", "inspect", "nope", code=1).output.lower()


def test_token_create_writes_a_hashed_token_into_the_store(cli: Run, env: Env):
    store_url = env.container.settings.store_url
    result = cli("token", "create", "--scope", "admin", "--store", store_url)
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("pp_")
    stored = env.store.find_token(hashlib.sha256(token.encode()).hexdigest())
    assert stored is not None and stored.scope == "admin"
    assert (
        "needs the work pool"
        in cli("token", "create", "--scope", "worker", "--store", store_url, code=1).output
    )
    cli("work-pool", "create", "p")
    worker = cli("token", "create", "--scope", "worker", "--pool", "p", "--store", store_url)
    assert "for work pool 'p'" in worker.output


def test_config_profile_sets_url_and_key(cli: Run, env: Env, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PUSHPOOL_API_URL")
    cli("config", "set", "api-url", env.api.url)
    cli("config", "set", "api-key", "pp_secret_value")
    profile = json.loads((tmp_path / "profile.json").read_text())
    assert profile == {"api_url": env.api.url, "api_key": "pp_secret_value"}
    shown = as_json(cli("config", "view"))
    assert shown["api_key"].startswith("pp_sec") and "secret_value" not in json.dumps(shown)
    cli("work-pool", "create", "via-profile")
    assert "via-profile" in cli("work-pool", "ls").output
    cli("config", "unset", "api-key")
    assert "api_key" not in json.loads((tmp_path / "profile.json").read_text())
    assert "unknown setting" in cli("config", "set", "colour", "red", code=1).output


def test_start_at_accepts_the_times_people_type_and_lists_them_when_it_cannot(
    cli: Run, tmp_path: Path
):
    cli("work-pool", "create", "p", "--type", "process")
    apply(cli, tmp_path)
    now = datetime.now(UTC)
    yesterday = as_json(cli("deployment", "run", "adhoc", "--start-at", "yesterday", "-o", "json"))
    due = datetime.fromisoformat(yesterday["expected_start_time"])
    assert due.date() == (now - timedelta(days=1)).date() and (due.hour, due.minute) == (0, 0)
    at_nine = as_json(
        cli("deployment", "run", "adhoc", "--start-at", "2031-05-06 09:30", "-o", "json")
    )
    assert datetime.fromisoformat(at_nine["expected_start_time"]) == datetime(
        2031, 5, 6, 9, 30, tzinfo=UTC
    )
    refused = cli("deployment", "run", "adhoc", "--start-at", "next week", code=1).output
    assert "cannot read 'next week' as a time" in refused
    assert "tomorrow 09:30" in " ".join(refused.split())
    assert "Invalid isoformat" not in refused


def test_token_create_says_an_admin_token_and_the_absolute_file_a_relative_url_names(
    cli: Run, env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    result = cli("token", "create", "--scope", "admin", "--store", "sqlite:///nested/dir/x.db")
    message = " ".join(result.output.split())
    where = tmp_path / "nested" / "dir" / "x.db"
    assert f"Created an admin token in the SQLite file {where.resolve()}." in message
    assert where.exists()
    cli("work-pool", "create", "p")
    store_url = env.container.settings.store_url
    worker = cli("token", "create", "--scope", "worker", "--pool", "p", "--store", store_url)
    assert "Created a worker token for work pool 'p'" in " ".join(worker.output.split())


def test_store_init_prints_the_absolute_path_of_a_relative_sqlite_url(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    result = cli("store", "init", "--store", "sqlite:///rel/s.db")
    assert f"at {(tmp_path / 'rel' / 's.db').resolve()}" in " ".join(result.output.split())


def test_an_api_url_without_api_gets_a_hint_to_add_it(cli: Run, env: Env, monkeypatch):
    assert env.api.url.endswith("/api")
    monkeypatch.setenv("PUSHPOOL_API_URL", env.api.url.removesuffix("/api"))
    refused = " ".join(cli("work-pool", "ls", code=1).output.split())
    assert "no route POST /work_pools/filter" in refused
    assert "does your API URL end in /api?" in refused


def test_late_runs_policies_come_from_the_cli_and_pushpool_yaml(cli: Run, tmp_path: Path):
    cli("work-pool", "create", "p", "--type", "process", "--late-runs", "skip_after 2h")
    assert as_json(cli("work-pool", "inspect", "p", "-o", "json"))["late_runs"] == "skip_after 2h"
    cli("work-pool", "update", "p", "--late-runs", "latest_only")
    assert as_json(cli("work-pool", "inspect", "p", "-o", "json"))["late_runs"] == "latest_only"
    refused = cli("work-pool", "update", "p", "--late-runs", "maybe", code=1).output
    assert "skip_after <duration>" in " ".join(refused.split())
    apply(
        cli,
        tmp_path,
        "deployments:\n  - name: hourly\n    command: 'true'\n    late_runs: skip_after 15m\n"
        "    work_pool: {name: p}\n",
    )
    hourly = as_json(cli("deployment", "inspect", "hourly", "-o", "json"))
    assert hourly["late_runs"] == "skip_after 15m"


def test_an_unknown_key_in_pushpool_yaml_is_refused_with_its_path_and_nearest_key(
    cli: Run, env: Env, tmp_path: Path
):
    """``commnd:`` for ``command:`` applied silently and every run crashed (issue 14)."""
    cli("work-pool", "create", "p")
    path = tmp_path / "pushpool.yaml"
    cases = {
        "deployments:\n  - name: ok\n    command: echo\n    work_pool: {name: p}\n"
        "  - name: typo\n    commnd: echo hello\n    work_pool: {name: p}\n": (
            "deployments[1].commnd: unknown key; did you mean 'command'?"
        ),
        "deployments:\n  - name: x\n    work_pool: {name: p, work_queue: q}\n": (
            "deployments[0].work_pool.work_queue: unknown key; did you mean 'work_queue_name'?"
        ),
        "deploymnts:\n  - name: x\n": "deploymnts: unknown key; did you mean 'deployments'?",
        "deployments:\n  - name: x\n    work_pool: {name: p}\n    schedules: [{cronn: '* * * * *'}]\n": (
            "deployments[0].schedules[0].cronn: unknown key; did you mean 'cron'?"
        ),
    }
    for text, expected in cases.items():
        path.write_text(text)
        assert expected in cli("deployment", "apply", str(path), code=1).output
    # Nothing was applied, not even the valid entry before the typo.
    assert as_json(cli("deployment", "ls", "-o", "json")) == []
