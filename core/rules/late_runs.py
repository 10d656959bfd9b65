"""The late-run policy: what happens to runs whose time passed while they waited.

A paused pool, a paused queue or an outage leaves a backlog; on resume it
would flood the infrastructure with runs nobody needs any more (Prefect
has no answer to this).  A pool and a deployment may each say, in
``late_runs``:

* ``run`` (the default): run them all, late or not — today's behaviour;
* ``skip_after <duration>``: skip a run more than ``<duration>`` late;
* ``latest_only``: of a deployment's runs that are due, run only the latest.

The deployment's setting wins over its pool's.  ``late_skips`` is the one
rule, pure and clock-free: admission calls it on the due runs before
planning and ends each skipped run CANCELLED ("Skipped") with the reason;
``preview`` calls it to show which runs would be skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core.errors import InvalidInput
from core.models import FlowRun
from core.states import LATE_AFTER

SKIPPED = "Skipped"  # the CANCELLED state's name for a skipped run
_SKIP_AFTER = re.compile(r"^skip_after\s+(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FORMS = "run, skip_after <duration> (e.g. skip_after 10m; units s, m, h, d) or latest_only"


class LateRunKind(StrEnum):
    RUN = "run"
    SKIP_AFTER = "skip_after"
    LATEST_ONLY = "latest_only"


@dataclass(frozen=True)
class LateRunPolicy:
    kind: LateRunKind = LateRunKind.RUN
    after: timedelta | None = None  # for SKIP_AFTER

    def __str__(self) -> str:
        if self.kind is LateRunKind.SKIP_AFTER and self.after is not None:
            return f"skip_after {_duration_text(self.after)}"
        return self.kind.value


RUN_ALL = LateRunPolicy()


def parse_late_runs(text: str | None, *, path: str = "late_runs") -> LateRunPolicy:
    """``run``, ``skip_after 10m`` or ``latest_only`` (None or "" means ``run``)."""
    cleaned = " ".join((text or "").strip().lower().split())
    if cleaned in ("", LateRunKind.RUN):
        return RUN_ALL
    if cleaned == LateRunKind.LATEST_ONLY:
        return LateRunPolicy(LateRunKind.LATEST_ONLY)
    match = _SKIP_AFTER.match(cleaned)
    if match is None:
        raise InvalidInput(f"late_runs {text!r} is not a policy; use {FORMS}", path=path)
    after = timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    if not timedelta(seconds=1) <= after <= timedelta(days=366):
        raise InvalidInput(
            f"late_runs {text!r}: the duration must be between 1s and 366d", path=path
        )
    return LateRunPolicy(LateRunKind.SKIP_AFTER, after)


def normalised(text: str | None, *, path: str = "late_runs") -> str | None:
    """The stored spelling of a policy (validated); None keeps "not set"."""
    return None if text is None else str(parse_late_runs(text, path=path))


def effective(deployment_policy: str | None, pool_policy: str | None) -> LateRunPolicy:
    """The deployment's policy if it sets one, else the pool's, else ``run``."""
    chosen = deployment_policy if deployment_policy else pool_policy
    return parse_late_runs(chosen)


def late_skips(
    runs: Sequence[FlowRun], *, policy_of: Callable[[FlowRun], LateRunPolicy], now: datetime
) -> dict[str, str]:
    """Run id -> why it is skipped.

    Only Late runs (still waiting ``LATE_AFTER`` past their time, design §2)
    are ever skipped, and ``policy_of`` is asked only about them, so a pool
    without a backlog costs no policy look-up.  ``latest_only`` keeps, per
    deployment, the latest of its due runs, Late or not.
    """
    due = [r for r in runs if r.next_scheduled_start_time <= now]
    newest: dict[str, FlowRun] = {}
    for run in due:
        if run.deployment_id is not None:
            known = newest.get(run.deployment_id)
            if known is None or _order(run) > _order(known):
                newest[run.deployment_id] = run
    skips: dict[str, str] = {}
    for run in due:
        late_by = now - run.next_scheduled_start_time
        if late_by <= LATE_AFTER:
            continue
        policy = policy_of(run)
        if policy.kind is LateRunKind.SKIP_AFTER and policy.after and late_by > policy.after:
            skips[run.id] = (
                f"Skipped by the late-run policy '{policy}': scheduled for "
                f"{run.next_scheduled_start_time:%Y-%m-%d %H:%M:%S} UTC, {_late(late_by)} late"
            )
        latest = newest.get(run.deployment_id or "")
        if policy.kind is LateRunKind.LATEST_ONLY and latest is not None and latest is not run:
            when = f"{latest.next_scheduled_start_time:%Y-%m-%d %H:%M:%S}"
            skips[run.id] = (
                "Skipped by the late-run policy 'latest_only': a later run of the "
                f"deployment (scheduled for {when} UTC) is due too"
            )
    return skips


def _order(run: FlowRun) -> tuple[datetime, str]:
    return run.next_scheduled_start_time, run.id


def _late(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size, up_to in (("s", 1, 60), ("min", 60, 120 * 60), ("h", 3600, 72 * 3600)):
        if seconds < up_to:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 86400:.0f} days"


def _duration_text(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
