"""``pushpool flow-run logs``: a process run's output, while it runs and after,
on every store.

The whole path is real: a ``pushpool worker start`` subprocess claims the run
through the live API with a worker token, starts the flow as its own
subprocess, reads its output and ships it to ``POST /logs/``; the CLI reads
it back through ``POST /logs/filter``.  The flow waits for a gate file, so
"while it runs" is a fact the test controls, not a race.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app
from tests.api.support import Env, LiveApi, make_deployment, make_env, make_pool, make_run
from tests.contract.backends import SHAREABLE_KINDS
from tests.contract.fixtures import moto_server, store_url  # noqa: F401 (fixtures)
from tests.e2e.worker_support import WorkerProcess, run_of, wait_for

FLOW = """
import os, sys, time
print("hello from the flow", flush=True)
print("ünïcode ☃ and a tab\\t", flush=True)
gate = sys.argv[1]
deadline = time.monotonic() + 30
while not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.05)
print("x" * 6000, flush=True)
for i in range(300):
    print(f"line {i}")
sys.stdout.flush()  # stdout is block-buffered into a pipe: order it before stderr
print("oops on stderr", file=sys.stderr, flush=True)
sys.exit(3)
"""


@pytest.fixture(params=SHAREABLE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def env(live_api: LiveApi, tmp_path: Path, store_url: str) -> Iterator[Env]:  # noqa: F811
    yield make_env(live_api, tmp_path, auth=True, store_url=store_url)


def pushpool(env: Env, token: str, *args: str) -> list[str]:
    result = CliRunner().invoke(
        app, ["--api-url", env.api.url, "--api-key", token, "flow-run", "logs", *args]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output.splitlines()


def messages(lines: list[str]) -> list[str]:
    return [line.split(" | ", 2)[2] for line in lines]


@pytest.mark.slow
def test_flow_run_logs_shows_a_process_runs_output_while_it_runs_and_after(
    env: Env, tmp_path: Path
):
    admin_token = env.token("admin")
    admin = env.as_(admin_token)
    make_pool(admin, "proc")
    flow, gate = tmp_path / "flow.py", tmp_path / "gate"
    flow.write_text(FLOW)
    command = f"{sys.executable} {flow} {gate}"
    run = make_run(admin, make_deployment(admin, "proc", command=command)["id"])["id"]
    worker = WorkerProcess(
        env, env.token("worker", pool_name="proc"), ["--pool", "proc"], tmp_path / "worker.log"
    )
    try:
        worker.wait_started()
        # While it runs: the first lines are there, the rest is not printed yet.
        early = wait_for(lambda: pushpool(env, admin_token, run), timeout=30)
        assert messages(early) == ["hello from the flow", "ünïcode ☃ and a tab\t"]
        assert run_of(admin, run)["state_type"] == "RUNNING"

        gate.touch()
        followed = pushpool(env, admin_token, run, "--follow", "--interval", "0.2")
        assert run_of(admin, run)["state_type"] == "FAILED"
    finally:
        worker.stop()

    texts = messages(followed)
    assert texts[:2] == ["hello from the flow", "ünïcode ☃ and a tab\t"]
    assert texts[2].startswith("x" * 3000) and texts[2].endswith("characters cut]")
    assert texts[3:303] == [f"line {i}" for i in range(300)]
    assert texts[303:] == ["oops on stderr"]
    # After the run: the same lines, each once, and a tail of the last ones.
    assert pushpool(env, admin_token, run) == followed
    assert messages(pushpool(env, admin_token, run, "--tail", "2")) == [
        "line 299",
        "oops on stderr",
    ]


def test_logs_of_an_unknown_run_or_with_bad_options_are_one_clear_line(env: Env):
    token = env.token("admin")
    runner = CliRunner()
    base = ["--api-url", env.api.url, "--api-key", token, "flow-run", "logs"]
    result = runner.invoke(app, [*base, "no-such-run"])
    assert result.exit_code == 1 and "not found" in result.output
    result = runner.invoke(app, [*base, "x", "--tail", "0"])
    assert result.exit_code == 2 and "Traceback" not in result.output
