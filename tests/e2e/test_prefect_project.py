"""A Prefect project's prefect.yaml, applied with `pushpool deployment apply`,
runs its entrypoint flow to COMPLETED on the local stack (`pushpool server
--with-worker`, in process), and a flow needing Prefect fails saying so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app
from pushpool import Client
from tests.projects.support import apply, copy_etl, local_stack


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Client]:
    with local_stack(tmp_path) as client:
        yield client


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_etl(tmp_path)


def test_a_prefect_project_applies_and_its_flow_runs_to_completed(
    api: Client, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    api.create_pool(name="local-process", type="process")
    output = apply(api, project / "prefect.yaml", monkeypatch)
    for ignored in ("build", "push", "pull", "prefect-version", "deployments[0].version",
                    "deployments[0].schedules[0].slug"):  # fmt: skip
        assert f"Ignored {ignored} (" in output
    assert "sum-rows/daily" in output and "hello/hello" in output

    daily = api.read_deployment_by_name("sum-rows", "daily")
    assert daily["entrypoint"] == "flows/etl.py:sum_rows"
    assert daily["description"] == "Sum one day's rows."
    assert daily["work_queue_name"] == "etl"
    assert daily["parameters"] == {"day": "2026-12-04", "rows": [1, 2, 3]}
    assert daily["job_variables"] == {
        "env": {"ETL_MODE": "test"},
        "working_dir": str(project.resolve()),
    }
    assert [(s["schedule"]["cron"], s["active"]) for s in daily["schedules"]] == [
        ("0 6 * * *", False)
    ]

    out = tmp_path / "result.json"
    run = api.create_flow_run(
        daily["id"], parameters={"rows": [4, 5]}, job_variables={"env": {"ETL_OUT": str(out)}}
    )
    done = api.wait_for_run(run["id"], timeout=60, poll_interval=0.2)
    assert done["state_type"] == "COMPLETED", done["state"]["message"]
    assert json.loads(out.read_text()) == {
        "day": "2026-12-04",
        "total": 9,
        "cwd": str(project.resolve()),
    }


def test_a_prefect_flow_without_prefect_in_the_job_fails_saying_so(
    api: Client, project: Path, monkeypatch: pytest.MonkeyPatch
):
    api.create_pool(name="local-process", type="process")
    apply(api, project / "prefect.yaml", monkeypatch)
    hello = api.read_deployment_by_name("hello", "hello")
    run = api.create_flow_run(hello["id"])
    done = api.wait_for_run(run["id"], timeout=60, poll_interval=0.2)
    assert done["state_type"] == "FAILED"
    assert "imports 'prefect', which is not installed" in done["state"]["message"]


def test_what_pushpool_cannot_honour_is_refused_before_anything_changes(
    api: Client, project: Path, monkeypatch: pytest.MonkeyPatch
):
    api.create_pool(name="local-process", type="process")
    text = (project / "prefect.yaml").read_text()
    monkeypatch.setenv("PUSHPOOL_API_URL", api.api_url)
    for line, replacement, message in (
        ('version: "1.0"', "concurrency_limit: 2", "no per-deployment concurrency limit"),
        ("slug: morning", "parameters: {day: x}", "no per-schedule parameters"),
        (
            "tags: [etl, nightly]",
            "tagz: [etl]",
            "deployments[0].tagz: unknown key; did you mean 'tags'?",
        ),
        (
            "prefect-version: 3.9.1",
            "prefect_version: 3.9.1",
            "prefect_version: unknown key; did you mean 'prefect-version'?",
        ),
        (
            "ETL_MODE: test",
            "IMAGE: '{{ build_image.image }}'",
            "deployments[0].work_pool.job_variables.env.IMAGE is '{{ build_image.image }}': "
            "pushpool does not resolve prefect.yaml's templates",
        ),
    ):
        bad = project / "bad.yaml"
        bad.write_text(text.replace(line, replacement))
        result = CliRunner().invoke(app, ["deployment", "apply", str(bad)])
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Traceback" not in result.output
    assert api.list_deployments() == []
