"""`pushpool demo` runs headless and its summary shows the waterfall at work."""

from __future__ import annotations

import json

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
