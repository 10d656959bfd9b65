"""The worker's ledger is keyed by (run id, attempt) (issue 13, fencing)."""

from __future__ import annotations

from handlers.worker.ledger import Execution, Ledger


def execution(attempt: int) -> Execution:
    return Execution(run_id="r", attempt=attempt, run_name="r", scheduled_time=None)


def test_a_new_attempt_of_a_run_never_overwrites_the_old_one_still_held():
    ledger = Ledger(limit=2)
    old, new = execution(1), execution(2)
    old.infra_id = "pid-1"
    ledger.add(old)
    ledger.add(new)
    assert len(ledger) == 2 and ledger.started() == [old]  # the old one is still watched
    ledger.release(old)
    assert len(ledger) == 1 and ledger.free() == 1
    ledger.release(old)  # a late second release of the old attempt frees nothing
    assert len(ledger) == 1
    ledger.release(new)
    assert len(ledger) == 0
