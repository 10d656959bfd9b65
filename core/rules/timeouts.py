"""A pool's timeouts and attempts, as its base job template states them.

A pool says how long its infrastructure may take to start, how long a pull
worker may stay silent and how many submissions a run gets through the
defaults of template variables, the way Prefect's templates already carry
``start_timeout_seconds`` and friends.  The reaper applies them; a pull
worker reads the heartbeat timeout to pace its heartbeats.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from core.models import JSON, WorkPool

DEFAULT_START_TIMEOUT = timedelta(minutes=10)
# Like Prefect's zombie detection: a worker silent this long is gone.
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(seconds=90)
HEARTBEAT_TIMEOUT_VARIABLE = "heartbeat_timeout_seconds"
# Attempts at submitting one run before it ends CRASHED (a claim whose
# lease ran out, a dispatch pass that kept failing retryably).
DEFAULT_SUBMIT_ATTEMPTS = 5
SUBMIT_ATTEMPTS_VARIABLE = "submit_attempts"

# Variables in Prefect's (and our) default templates that already say how
# long a provider waits for infrastructure to start.
START_TIMEOUT_VARIABLES = (
    "start_timeout_seconds",
    "task_start_timeout_seconds",
    "pod_watch_timeout_seconds",
)


def template_seconds(template: JSON, names: Iterable[str]) -> float | None:
    """The positive default of the first of ``names`` a base job template
    declares as a variable (how a pool states its timeouts), else None."""
    variables = template.get("variables")
    properties = variables.get("properties", {}) if isinstance(variables, dict) else {}
    for name in names:
        spec = properties.get(name) if isinstance(properties, dict) else None
        default = spec.get("default") if isinstance(spec, dict) else None
        if isinstance(default, int | float) and not isinstance(default, bool) and default > 0:
            return float(default)
    return None


def start_timeout(pool: WorkPool) -> timedelta:
    """The pool's start timeout: the default of the first start-timeout
    variable its template declares, else ten minutes."""
    seconds = template_seconds(pool.base_job_template, START_TIMEOUT_VARIABLES)
    return DEFAULT_START_TIMEOUT if seconds is None else timedelta(seconds=seconds)


def submit_attempts(pool: WorkPool) -> int:
    """How many attempts a run of this pool gets at being submitted: the
    template's ``submit_attempts`` default, else 5."""
    attempts = template_seconds(pool.base_job_template, (SUBMIT_ATTEMPTS_VARIABLE,))
    return DEFAULT_SUBMIT_ATTEMPTS if attempts is None else max(1, int(attempts))


def heartbeat_timeout(pool: WorkPool) -> timedelta:
    """How long a pull worker may stay silent before its claims are ended:
    the template's ``heartbeat_timeout_seconds`` default, else 90 s."""
    seconds = template_seconds(pool.base_job_template, (HEARTBEAT_TIMEOUT_VARIABLE,))
    return DEFAULT_HEARTBEAT_TIMEOUT if seconds is None else timedelta(seconds=seconds)
