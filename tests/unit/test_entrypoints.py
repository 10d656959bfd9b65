"""The runner a ``file.py:function`` entrypoint becomes, run for real in a
subprocess of the machine's ``python3`` (no pushpool, no Prefect there)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from core.entrypoints import entrypoint_command, is_function_entrypoint

FLOWS = """
import json, sys

def etl(day, rows=3):
    print(json.dumps({"day": day, "rows": rows}))
    return rows * 2

class Jobs:
    @staticmethod
    def nightly():
        print("nightly ran")

def broken():
    raise RuntimeError("the source table is gone")
"""


def run(entrypoint: str, cwd: Path, **parameters: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHPOOL_")}
    env["PUSHPOOL_PARAMETERS"] = json.dumps(parameters)
    return subprocess.run(
        shlex.split(entrypoint_command(entrypoint)),
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_only_file_and_function_entrypoints_get_the_runner():
    assert is_function_entrypoint("flows/etl.py:etl")
    assert is_function_entrypoint("etl.py:Jobs.nightly")
    assert not is_function_entrypoint("python flows/etl.py")
    assert not is_function_entrypoint("flows/etl.py")
    assert entrypoint_command("python -m etl") == "python -m etl"


def test_the_function_runs_with_the_run_parameters(tmp_path: Path):
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "etl.py").write_text(FLOWS)
    done = run("flows/etl.py:etl", tmp_path, day="monday")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0]) == {"day": "monday", "rows": 3}
    assert "etl returned 6" in done.stdout
    nested = run("flows/etl.py:Jobs.nightly", tmp_path)
    assert (nested.returncode, nested.stdout.strip()) == (0, "nightly ran")


def test_a_flow_importing_a_missing_prefect_fails_saying_so(tmp_path: Path):
    (tmp_path / "flow.py").write_text("from prefect import flow\n\n@flow\ndef hello():\n    pass\n")
    done = run("flow.py:hello", tmp_path)
    assert done.returncode == 1
    assert "imports 'prefect', which is not installed" in done.stderr
    assert "needs Prefect installed where the job runs" in done.stderr
    assert "Traceback" not in done.stderr


def test_each_way_to_get_it_wrong_names_what_to_fix(tmp_path: Path):
    (tmp_path / "etl.py").write_text(FLOWS)
    missing_file = run("nowhere.py:etl", tmp_path)
    assert (
        missing_file.returncode == 1 and "set the working_dir job variable" in missing_file.stderr
    )
    missing_function = run("etl.py:load", tmp_path)
    assert "defines no function 'load'" in missing_function.stderr
    raised = run("etl.py:broken", tmp_path)
    assert raised.returncode == 1
    assert "broken raised RuntimeError: the source table is gone" in raised.stderr
    wrong_parameters = run("etl.py:etl", tmp_path, nope=1)
    assert "unexpected keyword argument 'nope'" in wrong_parameters.stderr
