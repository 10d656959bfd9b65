"""A real Prefect ``@flow``, deployed from prefect.yaml, runs to COMPLETED when
the job's Python has Prefect (here: the compatibility virtualenv, put first on
the job's PATH through its ``env``); Prefect runs it without a Prefect API."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pushpool import Client
from tests.projects.support import apply, copy_etl, local_stack


def test_a_prefect_flow_runs_where_prefect_is_installed(
    prefect_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with local_stack(tmp_path) as api:
        _run_hello(api, copy_etl(tmp_path), tmp_path, prefect_bin, monkeypatch)


def _run_hello(
    api: Client, project: Path, tmp_path: Path, prefect_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.create_pool(name="local-process", type="process")
    apply(api, project / "prefect.yaml", monkeypatch)
    hello = api.read_deployment_by_name("hello", "hello")
    env = {
        "PATH": f"{prefect_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    }
    run = api.create_flow_run(hello["id"], job_variables={"env": env})
    done = api.wait_for_run(run["id"], timeout=180, poll_interval=0.5)
    assert done["state_type"] == "COMPLETED", done["state"]["message"]
