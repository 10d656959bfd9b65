"""`pushpool demo` runs headless and its summary shows the waterfall at work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app

LIMITS = {"critical": 1, "high": 2, "low": None}


@pytest.mark.slow
def test_the_demo_admits_twenty_runs_by_priority_within_every_limit():
    result = CliRunner().invoke(app, ["demo", "--seconds", "0.5", "-o", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)

    assert summary["finished"] is True
    assert summary["end_states"] == {"COMPLETED": 19, "FAILED": 1}
    order = [entry.split(":")[0] for entry in summary["admitted_order"]]
    assert len(order) == 20
    # The first pass: the pool's 4 slots go to priority 1, then 2, then 3,
    # each queue capped by its own limit, which passes spare slots down.
    assert order[:4] == ["critical", "high", "high", "low"]
    assert summary["pool_max_in_use"] == summary["pool_limit"] == 4
    for queue in summary["queues"]:
        limit = LIMITS[queue["name"]]
        assert limit is None or queue["max_in_use"] <= limit, queue
    waits = {q["name"]: q["mean_wait"] for q in summary["queues"]}
    assert waits["critical"] <= waits["high"] <= waits["low"]
    # The failing run is the last low one, and it failed by its exit code.
    failed = [o for o in summary["outcomes"] if o["end_state"] == "FAILED"]
    assert [o["queue"] for o in failed] == ["low"]


@pytest.mark.slow
def test_without_a_terminal_the_live_admitted_column_matches_the_summary_and_lines_stay_whole():
    result = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "demo", "--runs", "8", "--seconds", "0.3"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "60"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    before, summary = result.stdout.split("Summary", 1)
    heading = before.rsplit("\n", 1)[-1]
    assert set(heading) <= set("─ "), f"the Summary rule shares its line: {heading!r}"

    # The summary's order, one whole "n. queue/name" item after another.
    order_text = summary.split("(claims, first to last):", 1)[1].split("Waits from", 1)[0]
    items = re.findall(r"(\d+)\. (\w+)/(\S+)", order_text)
    assert [int(n) for n, _, _ in items] == list(range(1, 9))
    for line in filter(str.strip, order_text.splitlines()):
        assert re.fullmatch(r"\s*(\d+\. \w+/\S+)(   \d+\. \w+/\S+)*\s*", line), line
    in_summary = {name: int(n) for n, _, name in items}

    # The live table's last frame: each run's "#n" in the Admitted column.
    last_frame = before.rsplit("Flow runs (in creation order)", 1)[1]
    live = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"│\s*\d+\s*│\s*(\S+)\s*│.*?│\s*#(\d+)\s*│", last_frame)
    }
    assert live == in_summary
