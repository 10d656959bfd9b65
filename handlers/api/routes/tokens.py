"""``/tokens/``: admins mint worker, run or admin tokens over the API.

The first admin token cannot come from here (nobody could call it yet):
``pushpool token create --store URL`` writes it straight into the store.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from core.models import TokenScope
from core.services.auth import create_token
from handlers.api.request import caller, container, reply
from handlers.api.schemas.common import Body, Out

router = APIGatewayHttpRouter()


class TokenCreate(Body):
    scope: TokenScope
    pool_name: str | None = Field(default=None, description="Required for worker tokens.")
    run_id: str | None = Field(default=None, description="Required for run tokens.")
    expires_in_seconds: int | None = Field(default=None, ge=1, le=10 * 365 * 86400)


class TokenCreated(Out):
    id: str
    token: str = Field(description="Shown once; only its hash is stored.")
    scope: str
    pool_name: str | None
    run_id: str | None
    expires: datetime | None


@router.post("/tokens/", summary="Create an API token", tags=["Tokens"])
def create_api_token(body: TokenCreate) -> Response[TokenCreated]:
    caller().require_admin()
    app = container()
    now = app.clock()
    if body.pool_name is not None:
        app.store.get_pool(body.pool_name)
    if body.run_id is not None:
        app.store.get_run(body.run_id)
    expires = now + timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    token_id = app.ids()
    bearer = create_token(
        app.store,
        scope=body.scope,
        secret=secrets.token_urlsafe(32),
        token_id=token_id,
        now=now,
        pool_name=body.pool_name,
        run_id=body.run_id,
        expires=expires,
    )
    created = TokenCreated(
        id=token_id,
        token=bearer,
        scope=body.scope,
        pool_name=body.pool_name,
        run_id=body.run_id,
        expires=expires,
    )
    return reply(201, created)
