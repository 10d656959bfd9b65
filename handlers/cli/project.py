"""Reading a project file: ``pushpool.yaml``, or Prefect's ``prefect.yaml`` as is.

Both list ``deployments:``; pushpool reads each entry's name, entrypoint (or
command), parameters, schedules, ``work_pool.{name, work_queue_name,
job_variables}``, description, tags, paused and late_runs (pushpool's late-run
policy). A Prefect project also holds
what pushpool never does — build, push and pull steps, a version, triggers —
and those keys are listed back to the user as ignored, never silently
dropped; a key neither side knows is an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.entrypoints import is_function_entrypoint
from core.errors import unknown_key

# Keys of a project file pushpool does not act on, and why (shown to the user).
STEPS = "pushpool builds, pushes and pulls nothing: the job's image or working_dir holds the code"
IGNORED_TOP = {
    "build": STEPS,
    "push": STEPS,
    "pull": STEPS,
    "prefect-version": "Prefect's version is not used",
    "name": "the project's name is not used",
}
QUIET_TOP = {"definitions", "deployments"}  # definitions: YAML anchors only
READ = {
    "name", "entrypoint", "command", "flow_name", "parameters", "schedules",
    "work_pool", "description", "tags", "paused", "late_runs",
}  # fmt: skip
IGNORED_ENTRY = {
    "build": STEPS,
    "push": STEPS,
    "pull": STEPS,
    "version": "pushpool keeps no deployment versions",
    "version_type": "pushpool keeps no deployment versions",
    "enforce_parameter_schema": "pushpool keeps no flow signature",
    "parameter_openapi_schema": "pushpool keeps no flow signature",
    "triggers": "pushpool has no automations",
}
IGNORED_SCHEDULE = {
    "slug": "schedules are not named",
    "max_active_runs": "limit the work queue instead",
    "catchup": "missed runs are created by the tick",
}


@dataclass
class Project:
    path: Path
    entries: list[tuple[int, dict[str, Any]]]
    ignored: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """Where relative entrypoints start (Prefect runs from the project's root)."""
        return self.path.resolve().parent


def check_keys(mapping: dict[str, Any], known: set[str], where: str) -> None:
    """Refuse the first key of ``mapping`` that neither pushpool nor Prefect reads,
    with its path and the nearest known key (``commnd:`` for ``command:``)."""
    for key in mapping:
        if key not in known:
            path = f"{where}.{key}" if where else str(key)
            raise ValueError(f"{path}: {unknown_key(key, known)}")


def load(path: Path, *, only: list[str] | None = None) -> Project:
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    if isinstance(document, dict):
        check_keys(document, set(IGNORED_TOP) | QUIET_TOP, "")
    entries = document.get("deployments") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path} declares no deployments (expected a 'deployments:' list)")
    project = Project(path=path, entries=[])
    project.ignored += [f"{key} ({IGNORED_TOP[key]})" for key in IGNORED_TOP if key in document]
    for index, entry in enumerate(entries):
        if only and not (isinstance(entry, dict) and entry.get("name") in only):
            continue
        project.entries.append((index, _entry(entry, index, project.ignored)))
    if not project.entries:
        raise ValueError(f"none of {only} is declared in {path}")
    return project


def _entry(entry: Any, index: int, ignored: list[str]) -> dict[str, Any]:
    where = f"deployments[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be a mapping with a name and a work_pool")
    if entry.get("concurrency_limit") is not None:
        raise ValueError(
            f"{where}.concurrency_limit: pushpool has no per-deployment concurrency limit; "
            "set one on the work queue (work-queue create --limit)"
        )
    check_keys(entry, READ | set(IGNORED_ENTRY) | {"concurrency_limit"}, where)
    kept = {k: v for k, v in entry.items() if k in READ}
    for path, text in _strings(kept, where):
        if "{{" in text and "}}" in text:
            raise ValueError(
                f"{path} is {text!r}: pushpool does not resolve prefect.yaml's templates "
                "(step outputs, variables, blocks); write the value itself"
            )
    ignored += [f"{where}.{k} ({IGNORED_ENTRY[k]})" for k in IGNORED_ENTRY if k in entry]
    if entry.get("tags"):
        ignored.append(f"{where}.tags (pushpool stores no tags)")
    schedules = entry.get("schedules") or []
    if isinstance(schedules, list):
        entry = {**entry, "schedules": [_schedule(s, f"{where}.schedules[{i}]", ignored)
                                        for i, s in enumerate(schedules)]}  # fmt: skip
    return {k: v for k, v in entry.items() if k in READ}


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside ``value``, with where it is."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [s for i, v in enumerate(value) for s in _strings(v, f"{path}[{i}]")]
    return []


def _schedule(raw: Any, where: str, ignored: list[str]) -> Any:
    if not isinstance(raw, dict):
        return raw  # deployment_body names the mistake
    if raw.get("parameters"):
        raise ValueError(
            f"{where}.parameters: pushpool has no per-schedule parameters; "
            "make a deployment for each set of parameters"
        )
    ignored += [f"{where}.{k} ({IGNORED_SCHEDULE[k]})" for k in IGNORED_SCHEDULE if k in raw]
    return {k: v for k, v in raw.items() if k not in IGNORED_SCHEDULE and k != "parameters"}


def runs_a_function(spec: dict[str, Any]) -> bool:
    """The entry's entrypoint is ``file.py:function`` (not a command)."""
    entrypoint = spec.get("entrypoint")
    return bool(entrypoint) and is_function_entrypoint(str(entrypoint))
