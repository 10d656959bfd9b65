"""``core.rules.late_runs``: the policy's spellings and the pure skip rule."""

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidInput
from core.rules.late_runs import (
    RUN_ALL,
    LateRunKind,
    effective,
    late_skips,
    normalised,
    parse_late_runs,
)
from core.states import StateType, new_state
from tests.contract.builders import make_pool, make_run

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        (None, None),
        ("run", "run"),
        (" RUN ", "run"),
        ("latest_only", "latest_only"),
        ("skip_after 10m", "skip_after 10m"),
        ("skip_after   600s", "skip_after 10m"),
        ("skip_after 1.5h", "skip_after 90m"),
        ("skip_after 2d", "skip_after 2d"),
    ],
)
def test_policies_are_read_and_stored_in_one_spelling(text, stored):
    assert normalised(text) == stored


@pytest.mark.parametrize(
    "text", ["skip", "skip_after", "skip_after 10", "skip_after -5m", "skip_after 0s",
             "skip_after 400d", "latest", "run please", "skip_after 1e9m"]
)  # fmt: skip
def test_anything_else_is_refused_naming_the_forms(text):
    with pytest.raises(InvalidInput, match="late_runs"):
        parse_late_runs(text)


def test_the_deployments_policy_wins_over_the_pools_and_run_is_the_default():
    assert effective(None, None) == RUN_ALL
    assert effective(None, "latest_only").kind is LateRunKind.LATEST_ONLY
    assert effective("run", "latest_only") == RUN_ALL
    assert effective("skip_after 5m", "latest_only").after == timedelta(minutes=5)


def run_at(minutes_ago: float, deployment: str | None = "d"):
    pool, queue = make_pool("p")
    when = NOW - timedelta(minutes=minutes_ago)
    run = make_run(pool, queue, at=when)
    return run.model_copy(update={"deployment_id": deployment})


def test_only_late_runs_are_skipped_and_only_they_are_asked_about():
    asked = []
    runs = [run_at(0.2), run_at(30), run_at(-5)]  # 12 s late, 30 min late, not yet due

    def policy_of(run):
        asked.append(run.id)
        return parse_late_runs("skip_after 1s")

    skips = late_skips(runs, policy_of=policy_of, now=NOW)
    assert list(skips) == [runs[1].id]
    assert asked == [runs[1].id]


def test_latest_only_keeps_each_deployments_latest_due_run():
    a_old, a_new, b_only, adhoc = (
        run_at(40, "a"),
        run_at(0.1, "a"),
        run_at(40, "b"),
        run_at(50, None),
    )
    skips = late_skips(
        [a_old, a_new, b_only, adhoc], policy_of=lambda r: parse_late_runs("latest_only"), now=NOW
    )
    assert list(skips) == [a_old.id]
    assert "latest_only" in skips[a_old.id]


def test_run_skips_nothing():
    runs = [run_at(600), run_at(300)]
    assert late_skips(runs, policy_of=lambda r: RUN_ALL, now=NOW) == {}


def test_a_skipped_run_ends_cancelled_with_its_own_state_name():
    state = new_state(StateType.CANCELLED, at=NOW, name="Skipped", message="why")
    assert (state.type, state.name, state.is_terminal) == (StateType.CANCELLED, "Skipped", True)


@pytest.mark.parametrize(
    ("minutes_ago", "text"), [(0.5, "30 s late"), (90, "90 min late"), (600, "10 h late"),
                              (60 * 24 * 2500, "2500 days late")]
)  # fmt: skip
def test_how_late_a_skipped_run_was_is_said_in_a_readable_unit(minutes_ago, text):
    run = run_at(minutes_ago)
    skips = late_skips([run], policy_of=lambda r: parse_late_runs("skip_after 1s"), now=NOW)
    assert skips[run.id].endswith(text)
