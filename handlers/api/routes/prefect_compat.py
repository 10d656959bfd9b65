"""Answers Prefect's CLI and client ask for before or beside the objects they
manage, so they work unmodified against pushpool (issue 18):

* ``GET /csrf-token``: asked before every change; the "disabled" answer makes
  the client stop asking. Bearer tokens, never cookies, authenticate here, so
  there is no cross-site request to forge.
* ``GET /automations/related-to/{resource}``: ``prefect deployment inspect``
  lists a deployment's automations; pushpool has none, truthfully an empty list.
* ``POST /flow_runs/``: Prefect can start a run of a flow alone; in pushpool
  every run belongs to a deployment (its pool, queue and job), so this says
  which route creates one instead of answering "no route".
* ``GET /collections/views/aggregate-worker-metadata``: where ``prefect
  work-pool create`` and ``get-default-base-job-template`` find the default
  template of a type Prefect does not ship (``ecs:push``, ``modal:push``...):
  pushpool's own catalogue, in that view's shape.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.errors import InvalidInput, NotFound
from handlers.api.request import caller, ctx, name
from providers.registry import describe

router = APIGatewayHttpRouter()
TAGS = ["Prefect compatibility"]
WORKER_METADATA = "aggregate-worker-metadata"


@router.get("/csrf-token", summary="CSRF token (none: bearer tokens only)", tags=TAGS)
def csrf_token() -> Response[dict[str, str]]:
    return Response(
        status_code=422,
        content_type=content_types.APPLICATION_JSON,
        body={"detail": "CSRF protection is disabled."},
    )


@router.get("/automations/related-to/<resource>", summary="Automations (none)", tags=TAGS)
def automations_related_to(resource: str) -> list[Any]:
    caller().require_admin()
    return []


@router.post("/flow_runs/", summary="Create a flow run (use a deployment)", tags=TAGS)
def create_flow_run_without_deployment() -> None:
    caller().require_admin()
    raise InvalidInput(
        "pushpool runs flows of deployments: create the run with "
        "POST /deployments/{id}/create_flow_run (Prefect's create_flow_run_from_deployment)"
    )


def _worker_metadata(pool_type: str) -> dict[str, Any]:
    context = ctx()
    try:
        info = describe(pool_type)
        title, description = info.title, info.description
    except InvalidInput:  # a type the registry does not describe (a custom catalogue)
        title, description = pool_type, ""
    return {
        "type": pool_type,
        "display_name": title,
        "description": description,
        "default_base_job_configuration": context.types.default_template(pool_type),
        "is_beta": False,
    }


@router.get("/collections/views/<view>", summary="Prefect's worker catalogue", tags=TAGS)
def collection_view(view: str) -> dict[str, Any]:
    if name(view) != WORKER_METADATA:
        raise NotFound(f"no collection view {name(view)!r}; pushpool serves {WORKER_METADATA!r}")
    return {"pushpool": {t: _worker_metadata(t) for t in ctx().types.known()}}
