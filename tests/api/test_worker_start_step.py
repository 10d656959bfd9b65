"""The worker's start of a claimed run goes through the lifecycle's submit
step (``core.submission``) with its API recorder: a real API over
SQLite, a real client; only the provider is a test double (the seam)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.reporter import Reporter
from handlers.worker.starter import Starter, StartPolicy
from pushpool.client import Client
from tests.api.support import Env, make_deployment, make_pool, make_run, ok, propose


class ScriptedProvider:
    """Raises the scripted errors on submit, in turn; then starts ``task-<run>``."""

    emits_events = False
    supports_polling = True

    def __init__(self, *errors: InfrastructureError, on_submit: Callable[[], None] = lambda: None):
        self.errors = list(errors)
        self.on_submit = on_submit
        self.submits: list[str] = []
        self.cancelled: list[str] = []

    def build_request(self, job: Job) -> Any:
        return job.run_id

    def submit(self, request: Any, *, idempotency_key: str) -> str:
        self.submits.append(idempotency_key)
        if self.errors:
            raise self.errors.pop(0)
        self.on_submit()
        return f"task-{request}"

    def cancel(self, infra_id: str) -> None:
        self.cancelled.append(infra_id)


def start_one(env: Env, provider: ScriptedProvider, run: dict[str, Any]) -> Ledger:
    client = Client(env.api.url)
    reporter = Reporter(client, "w1")
    assert reporter.claim((run["id"], run["attempt"]))
    ledger = Ledger(None)
    execution = Execution(run["id"], run["attempt"], run["name"], scheduled_time=None)
    ledger.add(execution)
    starter = Starter(
        client=client,
        reporter=reporter,
        provider=lambda: provider,  # type: ignore[arg-type,return-value]
        ledger=ledger,
        stopping=threading.Event(),
        policy=StartPolicy(submit_attempts=2, retry_seconds=0.01),
        clock=env.clock,
    )
    starter.start(execution)
    client.close()
    return ledger


def a_run(env: Env) -> dict[str, Any]:
    make_pool(env.http, "p")
    return make_run(env.http, make_deployment(env.http, "p")["id"])


def test_a_submission_that_keeps_failing_crashes_the_run_after_the_workers_attempts(env: Env):
    run = a_run(env)
    throttled = InfrastructureError("throttled", retryable=True)
    provider = ScriptedProvider(throttled, throttled, throttled)

    ledger = start_one(env, provider, run)

    ended = ok(env.http.get(f"/flow_runs/{run['id']}"))
    assert ended["state_type"] == "CRASHED"
    assert ended["state"]["message"] == "Submission kept failing: throttled"
    assert len(provider.submits) == 2 and len(set(provider.submits)) == 1  # one key
    assert len(ledger) == 0  # its place is free again
    assert ok(env.http.get("/work_pools/p"))["active_slots"] == 0


def test_a_refused_submission_crashes_the_run_at_once(env: Env):
    run = a_run(env)
    provider = ScriptedProvider(InfrastructureError("no such image", retryable=False))

    start_one(env, provider, run)

    ended = ok(env.http.get(f"/flow_runs/{run['id']}"))
    assert (ended["state_type"], ended["state"]["message"]) == (
        "CRASHED",
        "Submission failed: no such image",
    )
    assert len(provider.submits) == 1


def test_a_start_the_api_no_longer_records_is_stopped(env: Env):
    """The attempt moved on while submitting (sent back to SCHEDULED): the
    report for the old attempt is refused, so its infrastructure is stopped."""
    run = a_run(env)
    provider = ScriptedProvider(
        on_submit=lambda: propose(env.http, run["id"], "SCHEDULED", force=True) and None
    )

    ledger = start_one(env, provider, run)

    assert provider.cancelled == [f"task-{run['id']}"]
    assert len(ledger) == 0
    after = ok(env.http.get(f"/flow_runs/{run['id']}"))
    assert after["state_type"] == "SCHEDULED" and after["infrastructure_pid"] is None


def test_a_recorded_start_belongs_to_the_worker(env: Env):
    run = a_run(env)
    provider = ScriptedProvider()

    ledger = start_one(env, provider, run)

    assert [e.infra_id for e in ledger.started()] == [f"task-{run['id']}"]
    assert ok(env.http.get(f"/flow_runs/{run['id']}"))["infrastructure_pid"] == f"task-{run['id']}"
    assert provider.cancelled == []
