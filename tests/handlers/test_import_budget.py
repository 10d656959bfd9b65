"""The import budget: a Lambda serving an ECS pool never imports the Google,
Azure or Modal SDKs (they are not even in its package: docs/decisions.md,
"One dispatch function per provider family"), nor the CLI's or the local
server's libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_handlers_serving_an_ecs_pool_import_no_other_cloud_sdk_nor_cli_libraries():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUSHPOOL_", "AWS_"))}
    probe = subprocess.run(
        [sys.executable, "-m", "tests.handlers.import_budget_probe"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout.strip().splitlines()[-1])

    assert report["handlers"] == [True, True, True, True]
    assert report["submitted"] is True  # the ECS path really ran
    assert report["after_import"] == []
    assert report["after_dispatch"] == []
