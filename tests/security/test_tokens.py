"""Tokens: compared in constant time, handed to the store only hashed, never logged.

Stored (admin and worker) tokens are looked up by the SHA-256 of the bearer
string, so the store — and anyone reading it — never sees a usable token,
and the lookup's timing depends on a hash the caller cannot steer; the hash
found is then compared with ``hmac.compare_digest``.  Run tokens carry an
HMAC signature checked with ``hmac.compare_digest``.  Every log record
written while serving requests with good, bad, forged and expired tokens,
including a request that hits a bug, is searched for the tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import Unauthorized
from core.models import Token
from core.services import auth
from core.services.auth import authenticate, run_token
from tests.fuzz.live import STORES, LiveApi, live_api

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32


class FakeTokens:
    """A store that knows one token by its hash and records what it was asked."""

    def __init__(self, bearer: str) -> None:
        digest = hashlib.sha256(bearer.encode()).hexdigest()
        self.tokens = {digest: Token(id="t1", secret_hash=digest, scope="admin", created=NOW)}
        self.asked: list[str] = []

    def find_token(self, secret_hash: str) -> Token | None:
        self.asked.append(secret_hash)
        return self.tokens.get(secret_hash)


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    seen: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    return seen


def test_a_stored_token_reaches_the_store_only_as_its_hash_and_is_compared_in_constant_time(
    comparisons: list[tuple[Any, Any]],
) -> None:
    bearer = "pp_" + "s" * 43
    store = FakeTokens(bearer)
    principal = authenticate(store, f"Bearer {bearer}", now=NOW, signing_key=KEY)  # type: ignore[arg-type]
    digest = hashlib.sha256(bearer.encode()).hexdigest()
    assert principal.scope == "admin"
    assert store.asked == [digest]
    assert all(bearer not in asked and "s" * 43 not in asked for asked in store.asked)
    assert (digest, digest) in comparisons


def test_an_unknown_token_is_refused_after_one_lookup_by_hash() -> None:
    store = FakeTokens("pp_" + "s" * 43)
    with pytest.raises(Unauthorized):
        authenticate(store, "Bearer pp_" + "t" * 43, now=NOW, signing_key=KEY)  # type: ignore[arg-type]
    assert store.asked == [hashlib.sha256(("pp_" + "t" * 43).encode()).hexdigest()]


def test_a_run_token_signature_is_compared_in_constant_time(
    comparisons: list[tuple[Any, Any]],
) -> None:
    genuine = run_token("run-1", key=KEY)
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    store = FakeTokens("pp_unused")
    assert authenticate(store, f"Bearer {genuine}", now=NOW, signing_key=KEY).run_id == "run-1"  # type: ignore[arg-type]
    with pytest.raises(Unauthorized):
        authenticate(store, f"Bearer {forged}", now=NOW, signing_key=KEY)  # type: ignore[arg-type]
    signatures = [pair for pair in comparisons if forged.rpartition(".")[2].encode() in pair]
    assert signatures, "the forged signature was not compared with compare_digest"
    assert store.asked == [], "run tokens need no store read"


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def recorded() -> Iterator[Recorder]:
    """Every record of every logger, at DEBUG, while the test runs."""
    recorder = Recorder()
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access", "pushpool"]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(recorder)
        lg.setLevel(logging.DEBUG)
    try:
        yield recorder
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(recorder)
            lg.setLevel(level)


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest) -> Iterator[tuple[LiveApi, str]]:
    """A live API with a pool, a deployment and one run (its id alongside)."""
    with live_api(request.param) as api:
        http = api.client(api.admin)
        http.post("/work_pools/", json={"name": "logged", "type": "process"})
        flow = http.post("/flows/", json={"name": "flow"}).json()
        body = {"name": "dep", "flow_id": flow["id"], "work_pool_name": "logged"}
        deployment = http.post("/deployments/", json=body).json()
        run = http.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"state": {"type": "SCHEDULED"}},
        ).json()
        yield api, run["id"]


def test_tokens_never_appear_in_logs_or_error_answers(
    live: tuple[LiveApi, str], recorded: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    live, run_id = live
    admin = live.client(live.admin)
    worker = live.token("worker", pool_name="logged")
    other_worker = live.token("worker", pool_name="elsewhere")
    expired = live.token("admin", expires=live.container.clock() - timedelta(seconds=1))
    own = live.run_token(run_id)
    forged = run_token(run_id, key=b"someone else's key")
    unknown = "pp_" + "u" * 43
    secrets = [live.admin, worker, other_worker, expired, own, forged, unknown]
    answers = []
    for token in secrets:
        client = live.client(token)
        answers += [
            client.post("/work_pools/filter", json={}),
            client.get("/work_pools/logged"),
            client.get(f"/flow_runs/{run_id}"),
            client.post(f"/flow_runs/{run_id}/set_state", json={"state": {"type": "BOGUS"}}),
            client.post("/work_pools/", json={"name": "prefect-x", "type": "process"}),
            client.get("/work_pools/missing"),
        ]

    def bug(*_: Any, **__: Any) -> Any:
        raise RuntimeError("a bug while serving a request")

    monkeypatch.setattr("core.services.pools.list_pools", bug)
    answers.append(admin.post("/work_pools/filter", json={}))
    assert answers[-1].status_code == 500
    assert any("unhandled error" in line for line in recorded.lines)
    assert {a.status_code for a in answers} >= {200, 401, 403, 404, 422}
    for secret in secrets:
        body = secret.removeprefix("pp_").removeprefix("ppr_")
        assert not [line for line in recorded.lines if body in line], (
            f"a token was logged: {secret}"
        )
        for answer in answers:
            if answer.status_code >= 400:
                assert body not in answer.text, f"an error answer echoed a token: {answer.text}"
