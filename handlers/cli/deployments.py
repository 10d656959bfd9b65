"""``pushpool deployment ...``: apply a pushpool.yaml or a prefect.yaml, list,
inspect, run, delete.

``pushpool.yaml`` mirrors prefect.yaml: ``deployments[].{name, entrypoint |
command, parameters, schedules, work_pool: {name, work_queue_name,
job_variables}, description, tags}``; ``handlers.cli.project`` reads either.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from handlers.cli import project
from handlers.cli.app import deployment_app
from handlers.cli.common import Output, OutputOption, client, console, guard, print_json
from handlers.cli.moments import parse_moment
from handlers.cli.output import inspect_block, short_time, table
from pushpool.client import ApiError, Client
from pushpool.deployments import with_working_dir
from pushpool.types import Deployment

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1, "s": 1, "sec": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_SCHEDULE_KEYS = {"cron", "interval", "anchor_date", "rrule", "timezone", "day_or"}
_WORK_POOL_KEYS = {"name", "work_queue_name", "job_variables"}


def parse_duration(text: str) -> timedelta:
    """'5m', '30s', '2h', '1d', '90' (seconds) or '5 minutes'."""
    match = _DURATION.match(text)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot read {text!r} as a duration; write e.g. 30s, 5m, 2h or 1d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2).lower()])


def parse_pairs(pairs: list[str], *, option: str) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON is used as such (as Prefect does)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{option} takes key=value, got {pair!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except ValueError:
            values[key.strip()] = raw
    return values


def flow_name_of(spec: dict[str, Any]) -> str:
    if spec.get("flow_name"):
        return str(spec["flow_name"])
    entrypoint = spec.get("entrypoint")
    if entrypoint and ":" in str(entrypoint):
        return str(entrypoint).rsplit(":", 1)[1].replace("_", "-")
    return str(spec["name"])


def _schedule(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be a mapping with cron, interval or rrule")
    active = raw.get("active", True)
    project.check_keys(raw, _SCHEDULE_KEYS | {"active"}, where)
    body = {k: v for k, v in raw.items() if k in _SCHEDULE_KEYS}
    if isinstance(body.get("anchor_date"), datetime):
        body["anchor_date"] = body["anchor_date"].isoformat()
    return {"schedule": body, "active": bool(active)}


def deployment_body(spec: Any, index: int, flow_id: str) -> dict[str, Any]:
    """The ``POST /deployments/`` body for one entry of ``deployments:``."""
    where = f"deployments[{index}]"
    if not isinstance(spec, dict) or not spec.get("name"):
        raise ValueError(f"{where} needs a name")
    pool = spec.get("work_pool")
    if not isinstance(pool, dict) or not pool.get("name"):
        raise ValueError(f"{where}.work_pool.name is required")
    project.check_keys(pool, _WORK_POOL_KEYS, f"{where}.work_pool")
    schedules = spec.get("schedules") or []
    if not isinstance(schedules, list):
        raise ValueError(f"{where}.schedules must be a list")
    body: dict[str, Any] = {
        "name": spec["name"],
        "flow_id": flow_id,
        "work_pool_name": pool["name"],
        "work_queue_name": pool.get("work_queue_name"),
        "job_variables": pool.get("job_variables") or {},
        "parameters": spec.get("parameters") or {},
        "entrypoint": spec.get("entrypoint"),
        "command": spec.get("command"),
        "schedules": [_schedule(s, f"{where}.schedules[{i}]") for i, s in enumerate(schedules)],
        "paused": bool(spec.get("paused", False)),
        "description": spec.get("description"),
        "late_runs": spec.get("late_runs"),
        "tags": list(spec.get("tags") or []),
    }
    return body


def resolve(api: Client, ref: str) -> Deployment:
    """A deployment by 'flow/name', by id, or by a name that is unique."""
    if "/" in ref:
        flow, _, name = ref.partition("/")
        return api.read_deployment_by_name(flow, name)
    try:
        return api.read_deployment(ref)
    except ApiError as exc:
        if exc.status != 404:
            raise
    found = api.list_deployments(deployments={"name": {"any_": [ref]}})
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"no deployment named {ref!r}; see 'pushpool deployment ls'")
    names = ", ".join(f"{d['flow_name']}/{d['name']}" for d in found)
    raise ValueError(f"{ref!r} is ambiguous ({names}); write FLOW/NAME")


@deployment_app.command("apply")
@guard
def apply(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)] = Path("pushpool.yaml"),
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="Apply only these deployments.")
    ] = None,
) -> None:
    """Create or update the deployments declared in a pushpool.yaml or prefect.yaml."""
    found = project.load(path, only=name)
    for index, spec in found.entries:
        deployment_body(spec, index, "")  # check every entry before touching the server
    for note in found.ignored:
        console.print(f"Ignored {escape(note)}.", highlight=False)
    with client() as api:
        for index, spec in found.entries:
            body = deployment_body(spec, index, "")
            if project.runs_a_function(spec):
                pool = api.read_pool(body["work_pool_name"])
                body["job_variables"] = with_working_dir(
                    body["job_variables"], pool=pool, root=found.root
                )
            flow = api.create_flow(flow_name_of(spec))
            created = api.create_deployment({**body, "flow_id": flow["id"]})
            console.print(
                f"Applied deployment {escape(created['flow_name'] + '/' + created['name'])} "
                f"({created['id']}) to work pool {created['work_pool_name']!r}, "
                f"queue {created['work_queue_name']!r}."
            )


@deployment_app.command("ls")
@guard
def ls(output: OutputOption = Output.TABLE) -> None:
    """List deployments."""
    with client() as api:
        deployments = api.list_deployments()
    if output is Output.JSON:
        print_json(deployments)
        return
    grid = table("Deployments", caption="(**) denotes a paused deployment")
    grid.add_column("Name", style="blue", overflow="fold")
    grid.add_column("ID", style="cyan", overflow="fold")
    grid.add_column("Work Pool", style="green", overflow="fold")
    grid.add_column("Queue", style="magenta", overflow="fold")
    grid.add_column("Schedules", justify="right")
    for d in deployments:
        label = f"{d['flow_name']}/{d['name']}" + (" (**)" if d["paused"] else "")
        grid.add_row(
            escape(label), d["id"], escape(d["work_pool_name"]), escape(d["work_queue_name"]),
            str(len(d["schedules"])),
        )  # fmt: skip
    console.print(grid)


@deployment_app.command("inspect")
@guard
def inspect(name: str, output: OutputOption = Output.TABLE) -> None:
    """Show a deployment (FLOW/NAME, id, or a unique name)."""
    with client() as api:
        deployment = resolve(api, name)
    if output is Output.JSON:
        print_json(deployment)
    else:
        inspect_block("Deployment", deployment)


@deployment_app.command("run")
@guard
def run(
    name: str,
    *,
    job_variable: Annotated[
        list[str] | None, typer.Option("--job-variable", "-jv", help="key=value (JSON values ok).")
    ] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="key=value parameter.")] = None,
    start_in: Annotated[str | None, typer.Option("--start-in", help="e.g. 30s, 5m, 2h.")] = None,
    start_at: Annotated[
        str | None,
        typer.Option("--start-at", help="e.g. 'tomorrow 09:30', '2026-12-05 14:00' (UTC), now."),
    ] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q", help="Override the queue.")] = None,
    run_name: Annotated[str | None, typer.Option("--run-name")] = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Create a flow run of a deployment, now or later."""
    if start_in and start_at:
        raise ValueError("give --start-in or --start-at, not both")
    when = datetime.now(UTC)
    if start_in:
        when += parse_duration(start_in)
    elif start_at:
        when = parse_moment(start_at, now=when)
    body: dict[str, Any] = {
        "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": when.isoformat()}},
        "job_variables": parse_pairs(job_variable or [], option="--job-variable"),
        "parameters": parse_pairs(param or [], option="--param"),
    }
    if queue:
        body["work_queue_name"] = queue
    if run_name:
        body["name"] = run_name
    with client() as api:
        deployment = resolve(api, name)
        flow_run = api.create_flow_run(deployment["id"], **body)
    if output is Output.JSON:
        print_json(flow_run)
        return
    console.print(
        f"Created flow run {escape(repr(flow_run['name']))} ({flow_run['id']}) in queue "
        f"{flow_run['work_queue_name']!r}, scheduled for {short_time(flow_run['expected_start_time'])} UTC."
    )


@deployment_app.command("delete")
@guard
def delete(name: str) -> None:
    """Delete a deployment; its runs not started yet are cancelled."""
    with client() as api:
        deployment = resolve(api, name)
        api.delete_deployment(deployment["id"])
    console.print(f"Deleted deployment {deployment['flow_name']}/{deployment['name']}.")
