"""A flow run's state history and rendered job configuration (for UIs and people).

``GET /flow_run_states/?flow_run_id=`` is Prefect's route for the history.
``GET /flow_runs/{id}/job_configuration`` has no Prefect counterpart (no
Prefect tool shows what a run's template rendered to): it answers what the
provider receives, secrets masked (``core.services.job_view``).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from core.models import JSON
from core.services import job_view, runs
from handlers.api.request import caller, container, ctx, name
from handlers.api.schemas.common import Out
from handlers.api.schemas.runs import State

router = APIGatewayHttpRouter()
TAGS = ["Flow Runs"]


class RenderedJobConfiguration(Out):
    flow_run_id: str
    job_configuration: JSON = Field(
        description="The pool's current template rendered for this run, with what submission "
        "injects; values whose names look secret are masked."
    )
    masked: list[str] = Field(description="Paths of the masked values.")


@router.get("/flow_run_states/", summary="Read a flow run's states, oldest first", tags=TAGS)
def read_flow_run_states(flow_run_id: Annotated[str, Query()]) -> list[State]:
    run = runs.get_run(ctx(), flow_run_id)
    caller().require_run(run)
    return [State.of(s, run.id) for s in (*run.state_history, run.state)]


@router.get(
    "/flow_runs/<run_id>/job_configuration",
    summary="The run's rendered job configuration, secrets masked",
    tags=TAGS,
)
def read_job_configuration(run_id: str) -> RenderedJobConfiguration:
    caller().require_admin()
    app = container()
    rendered = job_view.rendered_job(app.context, name(run_id), api_url=app.settings.api_url)
    return RenderedJobConfiguration(
        flow_run_id=name(run_id),
        job_configuration=rendered.configuration,
        masked=list(rendered.masked),
    )
