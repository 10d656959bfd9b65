"""What the Lambda functions tell an operator: EMF metrics and JSON log lines
on stdout, read back from the real handlers driven by the moto stack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.e2e.aws_stack import CLUSTER, Stack, deployed_stack
from tests.e2e.test_serverless_ecs import IMAGE, create_pool, deploy, run_now, start, task_of

T0 = datetime(2026, 3, 2, 7, 58, 30, tzinfo=UTC)
POOL = "observed"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with deployed_stack(monkeypatch, now=T0) as deployed:
        yield deployed


def lines(text: str) -> list[dict[str, Any]]:
    found = []
    for raw in text.splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


def emf(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "_aws" in r]


def metric(records: list[dict[str, Any]], name: str) -> list[Any]:
    """Every value of a metric across the EMF lines (a list when several were added)."""
    values: list[Any] = []
    for record in emf(records):
        if name in record:
            value = record[name]
            values.extend(value if isinstance(value, list) else [value])
    return values


def test_a_dispatch_pass_emits_its_metrics_and_a_crash_is_one_structured_line(
    stack: Stack, capsys: pytest.CaptureFixture[str]
):
    create_pool(stack, POOL, "ecs:push", limit=5)
    good = deploy(stack, POOL, job_variables={"image": IMAGE, "cluster": CLUSTER})
    run_id = run_now(stack, good)
    stack.clock.advance(seconds=2)
    capsys.readouterr()
    stack.drain()
    records = lines(capsys.readouterr().out)

    assert metric(records, "RunsAdmitted") == [1]
    assert metric(records, "RunsSubmitted") == [1]
    assert metric(records, "RunsCrashed") == [0]
    assert metric(records, "ClaimConflicts") == [0]
    assert metric(records, "DispatchLatency") == [2000.0]
    directive = emf(records)[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "pushpool"
    units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
    assert units["DispatchLatency"] == "Milliseconds" and units["RunsSubmitted"] == "Count"
    assert emf(records)[0]["function"] == "dispatch"
    summary = [r for r in records if str(r.get("message", "")).startswith(f"dispatch {POOL}")]
    assert summary and summary[0]["level"] == "INFO" and summary[0]["pool"] == POOL
    assert store_run(stack, run_id).infrastructure_pid

    # A terminal provider error: the run crashes, one line names it, nothing else is said.
    flow = stack.api("POST", "/api/flows/", {"name": "bad"})
    bad = stack.api("POST", "/api/deployments/", {
        "name": "bad", "flow_id": flow["id"], "work_pool_name": POOL,
        "job_variables": {"image": IMAGE, "cluster": "no-such-cluster"},
    })["id"]  # fmt: skip
    doomed = run_now(stack, bad)
    capsys.readouterr()
    stack.drain()
    captured = capsys.readouterr()
    records = lines(captured.out)
    crash_lines = [r for r in records if r.get("level") == "WARNING"]
    assert len(crash_lines) == 1, crash_lines
    assert crash_lines[0]["run_id"] == doomed and crash_lines[0]["pool"] == POOL
    assert crash_lines[0]["attempt"] == 1 and "no-such-cluster" in crash_lines[0]["message"]
    assert "Traceback" not in captured.out + captured.err
    assert sum(metric(records, "RunsCrashed")) == 1  # the freed slot asks for another pass
    errors = [r for r in emf(records) if "ProviderErrors" in r]
    assert [(r["ErrorType"], r["ProviderErrors"]) for r in errors] == [("terminal", [1.0])]


def test_an_infrastructure_crash_and_a_tick_are_counted(
    stack: Stack, capsys: pytest.CaptureFixture[str]
):
    create_pool(stack, POOL, "ecs:push", limit=5)
    run_id = run_now(stack, deploy(stack, POOL, job_variables={"image": IMAGE, "cluster": CLUSTER}))
    stack.drain()
    start(stack, run_id)
    infra_id = task_of(stack, run_id)
    stack.ecs.fail_to_start(infra_id.split("|")[1])
    capsys.readouterr()
    stack.ecs_event(infra_id, version=3)
    records = lines(capsys.readouterr().out)
    assert metric(records, "RunsCrashedByInfrastructure") == [1]
    counted = next(r for r in records if "RunsCrashedByInfrastructure" in r)
    assert counted["function"] == "infra_events"
    assert any(r.get("run_id") == run_id for r in records if "message" in r)

    stack.tick()
    assert metric(lines(capsys.readouterr().out), "TickCompleted") == [1]


def store_run(stack: Stack, run_id: str) -> Any:
    return stack.container.store.get_run(run_id)
