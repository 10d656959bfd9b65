"""Token formats and scope checks, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import Forbidden, InvalidInput, Unauthorized
from core.models import FlowRun
from core.services.auth import Principal, authenticate, new_token, run_token
from core.states import StateType, new_state

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class NoTokens:
    def find_token(self, secret_hash: str) -> None:
        return None


def a_run(run_id: str = "r1", pool: str = "p") -> FlowRun:
    return FlowRun(
        id=run_id, name="n", flow_id="f", work_pool_id="pid", work_pool_name=pool,
        work_queue_id="q", work_queue_name="q", next_scheduled_start_time=NOW,
        state=new_state(StateType.SCHEDULED, at=NOW, scheduled_time=NOW), created=NOW, updated=NOW,
    )  # fmt: skip


def test_a_new_token_keeps_only_the_hash_and_its_scope_target():
    token, bearer = new_token(
        scope="worker", secret="x" * 32, token_id="t", now=NOW, pool_name="p", run_id="ignored"
    )
    assert bearer.startswith("pp_") and bearer not in token.model_dump_json()
    assert (token.scope, token.pool_name, token.run_id) == ("worker", "p", None)


@pytest.mark.parametrize(
    ("scope", "kwargs", "needle"),
    [("root", {}, "unknown scope"), ("worker", {}, "work pool"), ("run", {}, "flow run")],
)
def test_incomplete_tokens_are_refused(scope, kwargs, needle):
    with pytest.raises(InvalidInput, match=needle):
        new_token(scope=scope, secret="x" * 32, token_id="t", now=NOW, **kwargs)


def test_run_tokens_verify_by_signature_and_name_their_run():
    bearer = run_token("r1", key=b"key")
    principal = authenticate(NoTokens(), f"Bearer {bearer}", now=NOW, signing_key=b"key")  # type: ignore[arg-type]
    assert (principal.scope, principal.run_id) == ("run", "r1")
    tampered = bearer.replace("r1", "r2", 1)
    with pytest.raises(Unauthorized):
        authenticate(NoTokens(), f"Bearer {tampered}", now=NOW, signing_key=b"key")  # type: ignore[arg-type]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Token abc", "Bearer pp_unknown"])
def test_missing_or_unknown_credentials_are_unauthorized(header):
    with pytest.raises(Unauthorized):
        authenticate(NoTokens(), header, now=NOW, signing_key=b"k")  # type: ignore[arg-type]


def test_scope_checks():
    admin, worker, runner = (
        Principal("admin"),
        Principal("worker", pool_name="p"),
        Principal("run", run_id="r1"),
    )
    admin.require_admin()
    worker.require_pool("p")
    worker.require_run(a_run(pool="p"))
    runner.require_run(a_run("r1"))
    for check in (
        worker.require_admin,
        lambda: worker.require_pool("other"),
        lambda: worker.require_run(a_run(pool="other")),
        lambda: runner.require_run(a_run("r2")),
        lambda: runner.require_pool("p"),
    ):
        with pytest.raises(Forbidden):
            check()
