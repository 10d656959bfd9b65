"""``/logs/``: write a batch of a run's log lines, and read them back.

``POST /logs/filter`` reads one run's lines (the ``flow_run_id`` filter names
exactly one run): oldest first from a time or after the last key seen, or
the newest first (``TIMESTAMP_DESC``, a tail).  A push run's new lines are
copied from its provider's log source first (``core.services.log_sync``).
"""

from __future__ import annotations

import logging

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.errors import InfrastructureError, InvalidInput
from core.logs import cursor_at
from core.ports import LogSource, log_source
from core.services import logs
from handlers.api.request import caller, container, ctx, reply
from handlers.api.schemas.logs import Log, LogCreate, LogFilter

log = logging.getLogger("pushpool.api.logs")
router = APIGatewayHttpRouter()
TAGS = ["Logs"]


@router.post("/logs/", summary="Write log lines of flow runs", tags=TAGS)
def create_logs(body: list[LogCreate]) -> Response[None]:
    logs.write_logs(
        ctx(), container().logs, [item.line() for item in body], authorize=caller().require_run
    )
    return reply(201, None)


@router.post("/logs/filter", summary="Read a flow run's log lines", tags=TAGS)
def read_logs(body: LogFilter) -> list[Log]:
    runs = body.logs.flow_run_id.any_ or []
    if len(runs) != 1:
        raise InvalidInput(
            "logs.flow_run_id.any_ must name exactly one flow run", path="logs.flow_run_id.any_"
        )
    after = body.after_key
    since = body.logs.timestamp.after_ if body.logs.timestamp else None
    if after is None and since is not None:
        after = cursor_at(since)
    lines = logs.read_logs(
        ctx(),
        container().logs,
        runs[0],
        authorize=caller().require_run,
        after=after,
        limit=body.limit,
        newest_first=body.sort == "TIMESTAMP_DESC",
        source_of=_source,
    )
    return [Log.of(line) for line in lines]


def _source(pool_type: str) -> LogSource | None:
    """The provider's log source; None where this function cannot load the provider
    (the API Lambda carries no Google, Azure or Modal SDK): the stored lines are answered."""
    try:
        provider = container().provider(pool_type)
    except InfrastructureError as exc:
        log.warning("run logs of %s pools are not copied here: %s", pool_type, exc.detail)
        return None
    return log_source(provider)
