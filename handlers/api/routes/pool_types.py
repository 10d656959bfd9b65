"""``/work_pool_types/``: the pool types this installation knows, for UIs.

Prefect's UI reads the same facts from ``/collections/views/aggregate-worker-metadata``
(a catalogue keyed by integration package); pushpool has one catalogue, so
this is a flat list: each type's title, description, mode (push, pull or
managed) and default base job template, which a UI turns into a form.
The path is not under ``/work_pools/`` so that no pool name is shadowed.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from core.errors import InvalidInput, NotFound
from core.models import JSON
from core.ports import PoolMode
from handlers.api.request import ctx, name
from handlers.api.schemas.common import Out
from providers.registry import describe

router = APIGatewayHttpRouter()
TAGS = ["Work Pools"]


class PoolType(Out):
    type: str
    title: str
    description: str
    mode: PoolMode = Field(description="push, pull (a worker polls) or managed.")
    needs_worker: bool
    default_base_job_template: JSON


def _pool_type(pool_type: str) -> PoolType:
    context = ctx()
    mode = context.types.mode(pool_type)
    try:
        info = describe(pool_type)
        title, description = info.title, info.description
    except InvalidInput:  # a type the registry does not describe (a custom catalogue)
        title, description = pool_type, ""
    return PoolType(
        type=pool_type,
        title=title,
        description=description,
        mode=mode,
        needs_worker=mode is PoolMode.PULL,
        default_base_job_template=context.types.default_template(pool_type),
    )


@router.get("/work_pool_types/", summary="Read the work pool types", tags=TAGS)
def read_work_pool_types() -> list[PoolType]:
    return [_pool_type(t) for t in ctx().types.known()]


@router.get("/work_pool_types/<pool_type>", summary="Read a work pool type", tags=TAGS)
def read_work_pool_type(pool_type: str) -> PoolType:
    wanted, known = name(pool_type), ctx().types.known()
    if wanted not in known:
        raise NotFound(f"no work pool type {wanted!r}; the types are: {', '.join(known)}")
    return _pool_type(wanted)
