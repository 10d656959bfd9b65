"""``pushpool.deploy``: Prefect's ``flow.deploy(name=..., work_pool_name=...,
job_variables=...)`` as a function of pushpool's own.

It needs no Prefect: ``flow`` is a plain function, a Prefect ``Flow`` object
(its ``.fn`` and ``.name`` are used), or an entrypoint string
``"path/to/file.py:function"``, stored relative to the current directory as
Prefect stores it; on a process pool the jobs run from that directory.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pushpool.client import Client
from pushpool.defaults import DEFAULT_API_URL
from pushpool.types import Deployment, WorkPool


def flow_name_of(entrypoint: str) -> str:
    """Prefect's default flow name: the function's name with ``_`` as ``-``."""
    return entrypoint.rsplit(":", 1)[-1].rsplit(".", 1)[-1].replace("_", "-")


def entrypoint_of(flow: Callable[..., Any] | str, *, root: Path) -> str:
    """``path/relative/to/root.py:qualified_name`` for a function, or the string given."""
    if isinstance(flow, str):
        if ":" not in flow:
            raise ValueError(f"entrypoint {flow!r} must read 'path/to/file.py:function'")
        return flow
    function = getattr(flow, "fn", flow)  # a Prefect Flow wraps the function in .fn
    source = inspect.getsourcefile(function)
    if source is None or function.__qualname__ != function.__name__:
        raise ValueError(
            f"{function!r} is not a module-level function defined in a file; "
            "pass entrypoint='path/to/file.py:function' instead"
        )
    path = Path(source).resolve()
    try:
        relative = path.relative_to(root.resolve())
    except ValueError:
        relative = path
    return f"{relative.as_posix()}:{function.__name__}"


def with_working_dir(
    job_variables: Mapping[str, Any], *, pool: WorkPool, root: Path
) -> dict[str, Any]:
    """``job_variables`` with ``working_dir`` set to ``root`` when the pool's jobs take
    one (process pools) and none is given: a relative entrypoint is relative to
    the project, as Prefect's are, not to the temporary directory a job gets."""
    declared = pool["base_job_template"].get("variables", {}).get("properties", {})
    if "working_dir" in declared and "working_dir" not in job_variables:
        return {**job_variables, "working_dir": str(root.resolve())}
    return dict(job_variables)


def _schedules(
    *, cron: str | None, interval: float | None, rrule: str | None, timezone: str | None
) -> list[dict[str, Any]]:
    given = [
        {key: value}
        for key, value in (("cron", cron), ("interval", interval), ("rrule", rrule))
        if value is not None
    ]
    if timezone:
        for schedule in given:
            schedule["timezone"] = timezone
    return [{"schedule": s, "active": True} for s in given]


def deploy(
    flow: Callable[..., Any] | str,
    *,
    name: str,
    work_pool_name: str,
    work_queue_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    cron: str | None = None,
    interval: float | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    paused: bool = False,
    description: str | None = None,
    tags: Sequence[str] | None = None,
    flow_name: str | None = None,
    client: Client | None = None,
    api_url: str | None = None,
    api_key: str | None = None,
) -> Deployment:
    """Create (or update: same flow and name) a deployment of ``flow`` on a work pool.

    The API is ``client``, else ``api_url``/``api_key``, else the environment's
    ``PUSHPOOL_API_URL``/``PUSHPOOL_API_KEY``, else the local server.
    """
    entrypoint = entrypoint_of(flow, root=Path.cwd())
    chosen_name = flow_name or getattr(flow, "name", None) or flow_name_of(entrypoint)
    if description is None and not isinstance(flow, str):
        description = inspect.getdoc(getattr(flow, "fn", flow))
    body = {
        "name": name,
        "work_pool_name": work_pool_name,
        "work_queue_name": work_queue_name,
        "job_variables": dict(job_variables or {}),
        "parameters": dict(parameters or {}),
        "entrypoint": entrypoint,
        "schedules": _schedules(cron=cron, interval=interval, rrule=rrule, timezone=timezone),
        "paused": paused,
        "description": description,
        "tags": list(tags or []),
    }
    if client is not None:
        return _create(client, str(chosen_name), body)
    with Client(
        api_url or os.environ.get("PUSHPOOL_API_URL") or DEFAULT_API_URL,
        api_key=api_key or os.environ.get("PUSHPOOL_API_KEY"),
    ) as own:
        return _create(own, str(chosen_name), body)


def _create(client: Client, flow_name: str, body: dict[str, Any]) -> Deployment:
    pool = client.read_pool(body["work_pool_name"])
    variables = with_working_dir(body["job_variables"], pool=pool, root=Path.cwd())
    flow = client.create_flow(flow_name)
    return client.create_deployment({**body, "job_variables": variables, "flow_id": flow["id"]})
