"""The cost model's scheduled scenario counts what a scheduled run really shares:
the tick that created it, the delayed message and the dispatch pass that claimed
it with the others due at the same second, and the tick's polls while it runs."""

import pytest
from moto import mock_aws

from tests.bench import scenarios
from tests.bench.harness import fake_aws_environment
from tests.bench.lifecycle import Invocation
from tests.bench.pricing import MILLION, stack_rule

OPTIONS = {
    "run_reports": 2,
    "tick_second": 30,
    "start_seconds": 40,
    "scheduled_cycles": 1,
    "scheduled_k": "3",
    "run_minutes": 3,
}


def requests(invocations: list[Invocation]) -> dict[str, float]:
    """A price list of one dollar per DynamoDB request."""
    return {"DynamoDB requests": float(sum(i.dynamodb.request_count for i in invocations))}


@pytest.fixture(scope="module")
def window() -> scenarios.Window:
    with fake_aws_environment(), mock_aws():
        return scenarios.count(3, 2, OPTIONS, stack_rule)


def test_every_tick_of_the_window_is_counted_and_one_extends_the_schedules(
    window: scenarios.Window,
) -> None:
    ticks = window.of("tick")
    assert len(ticks) == window.minutes > 0
    assert all(t.dynamodb.request_count > 0 for t in ticks)
    extending = [t for t in ticks if t.what.endswith("extending")]
    assert len(extending) == 1
    # it wrote the runs it created (at least one write unit each)
    assert extending[0].dynamodb.wcu >= 3


def test_the_k_runs_due_together_share_one_message_and_one_pass(
    window: scenarios.Window,
) -> None:
    assert window.runs == 3 * window.minutes
    passes = [d for d in window.of("dispatch") if d.what.startswith("scheduled pass")]
    assert len(passes) == window.minutes
    assert all(p.provider_calls == 3 and p.dynamodb.wcu > 0 for p in passes)
    # the tick sends the due-time message: one per minute, besides its poll request
    assert sum(t.sqs_sent for t in window.of("tick")) == 2 * window.minutes
    # and nothing was created through the API: the flow's own reports only
    assert all("/set_state" in a.what for a in window.of("api"))
    assert len(window.of("api")) == 2 * window.runs


def test_the_figure_per_run_is_everything_in_the_window_divided_by_its_runs(
    window: scenarios.Window,
) -> None:
    per_run = scenarios.per_run(window, requests)["DynamoDB requests"]
    shared = sum(i.dynamodb.request_count for i in window.of("tick") + window.of("dispatch"))
    own = sum(i.dynamodb.request_count for i in window.of("api") + window.of("infra_events"))
    assert per_run == pytest.approx((shared + own) / window.runs)
    assert shared > 0 and own > 0


def test_a_run_holding_its_slot_longer_costs_the_ticks_and_polls_reads() -> None:
    figures, table = scenarios.scheduled_figures(
        {**OPTIONS, "run_minutes": 5}, requests, stack_rule
    )
    by_name = {f.name: f for f in figures}
    per_minute = by_name["scheduled k=3: $ per million run-minutes holding a slot"]
    total = by_name["scheduled, k=3 due together, 5-minute runs: $ per million runs"]
    # a run seen by more ticks is read by each of them and by each poll pass
    assert "RRU a run-minute" in per_minute.note
    assert float(per_minute.note.split()[0]) > 0
    assert total.median > 0
    assert "tick k=3 extending" in table and "scheduled pass k=3" in table
    # the tick's and the pass's requests are in the figure, not only the run's own
    counted = by_name["scheduled k=3: DynamoDB requests per run"].median
    assert total.median == pytest.approx(counted * MILLION)
