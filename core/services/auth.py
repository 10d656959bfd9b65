"""Who is calling, and what they may do.

Three scopes (design §7): ``admin`` may do everything; ``worker`` may poll,
claim, heartbeat and report for its own pool; ``run`` may report the state
of its own run only.  Admin and worker tokens are random secrets stored as
SHA-256 hashes, so a leaked table leaks no usable token.  Run tokens are
HMAC-signed by the control plane at submission: no store write per run, and
one key rotation invalidates them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from core.errors import Forbidden, InvalidInput, Unauthorized
from core.models import FlowRun, Token, TokenScope
from core.ports import Store

STORED_PREFIX = "pp_"
RUN_PREFIX = "ppr_"
SCOPES: tuple[TokenScope, ...] = ("admin", "worker", "run")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller and the checks each route asks of it."""

    scope: TokenScope
    pool_name: str | None = None
    run_id: str | None = None
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.scope == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(f"this needs an admin token; the token used has scope {self.scope!r}")

    def require_pool(self, pool_name: str) -> None:
        """Admins, or a worker token of this pool."""
        if self.is_admin:
            return
        if self.scope == "worker" and self.pool_name == pool_name:
            return
        raise Forbidden(self._mismatch(f"work pool {pool_name!r}"))

    def require_run(self, run: FlowRun) -> None:
        """Admins, a worker token of the run's pool, or the run's own token."""
        if self.is_admin:
            return
        if self.scope == "worker" and self.pool_name == run.work_pool_name:
            return
        if self.scope == "run" and self.run_id == run.id:
            return
        raise Forbidden(self._mismatch(f"flow run {run.id}"))

    def _mismatch(self, target: str) -> str:
        if self.scope == "worker":
            return f"this worker token is for work pool {self.pool_name!r}, not for {target}"
        if self.scope == "run":
            return f"this run token is for flow run {self.run_id}, not for {target}"
        return f"this token may not act on {target}"


ANONYMOUS_ADMIN = Principal(scope="admin", token_id="anonymous")


def new_token(
    *,
    scope: str,
    secret: str,
    token_id: str,
    now: datetime,
    pool_name: str | None = None,
    run_id: str | None = None,
    expires: datetime | None = None,
) -> tuple[Token, str]:
    """A token to store and the bearer string to hand out (once)."""
    if scope not in SCOPES:
        raise InvalidInput(f"unknown scope {scope!r}; use admin, worker or run", path="scope")
    if scope == "worker" and not pool_name:
        raise InvalidInput("a worker token needs the work pool it serves", path="pool")
    if scope == "run" and not run_id:
        raise InvalidInput("a run token needs the flow run it reports for", path="run")
    if len(secret) < 32:
        raise InvalidInput("a token secret needs at least 32 characters of randomness")
    bearer = f"{STORED_PREFIX}{secret}"
    token = Token(
        id=token_id,
        secret_hash=hash_secret(bearer),
        scope=scope,
        pool_name=pool_name if scope == "worker" else None,
        run_id=run_id if scope == "run" else None,
        created=now,
        expires=expires,
    )
    return token, bearer


def create_token(
    store: Store,
    *,
    scope: str,
    secret: str,
    token_id: str,
    now: datetime,
    pool_name: str | None = None,
    run_id: str | None = None,
    expires: datetime | None = None,
) -> str:
    """Store a new token (hashed) and return its bearer string."""
    token, bearer = new_token(
        scope=scope,
        secret=secret,
        token_id=token_id,
        now=now,
        pool_name=pool_name,
        run_id=run_id,
        expires=expires,
    )
    store.put_token(token)
    return bearer


def _signature(run_id: str, key: bytes) -> str:
    mac = hmac.new(key, f"run:{run_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def run_token(run_id: str, *, key: bytes) -> str:
    """The bearer token a run's infrastructure uses to report its own state."""
    return f"{RUN_PREFIX}{run_id}.{_signature(run_id, key)}"


def _verify_run_token(bearer: str, key: bytes | None) -> Principal:
    body = bearer[len(RUN_PREFIX) :]
    run_id, _, signature = body.rpartition(".")
    if not key or not run_id or not signature:
        raise Unauthorized("the run token is malformed or run tokens are not enabled here")
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters.
    given = signature.encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, _signature(run_id, key).encode()):
        raise Unauthorized("the run token's signature does not match; it was not issued here")
    return Principal(scope="run", run_id=run_id)


def authenticate(
    store: Store, authorization: str | None, *, now: datetime, signing_key: bytes | None
) -> Principal:
    """The principal behind an ``Authorization: Bearer ...`` header."""
    if not authorization:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>'")
    kind, _, bearer = authorization.strip().partition(" ")
    bearer = bearer.strip()
    if kind.lower() != "bearer" or not bearer:
        raise Unauthorized("use 'Authorization: Bearer <token>'")
    if bearer.startswith(RUN_PREFIX):
        return _verify_run_token(bearer, signing_key)
    digest = hash_secret(bearer)
    token = store.find_token(digest)
    if token is None or not hmac.compare_digest(token.secret_hash, digest):
        raise Unauthorized("the token is not valid; create one with 'pushpool token create'")
    if token.expires is not None and token.expires <= now:
        raise Unauthorized("the token has expired; create a new one")
    return Principal(
        scope=token.scope, pool_name=token.pool_name, run_id=token.run_id, token_id=token.id
    )
