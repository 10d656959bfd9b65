"""When a deployment's schedules fire, and the run id each firing gets.

Pure: the tick calls :func:`upcoming` with its own clock reading.  Every
result is an aware UTC datetime.  Run ids are uuid5 of (deployment id,
scheduled time), so a repeated or concurrent tick computes the same ids and
the store's create-if-absent makes the second creation a no-op.

Daylight saving follows Prefect's conventions:

* cron: croniter evaluates the expression in the schedule's timezone; a
  wall-clock time that does not exist (spring forward) fires at the first
  valid minute after the gap.  An expression with fixed hours fires once when
  a wall-clock hour repeats (fall back); an every-hour expression keeps
  firing every hour of absolute time.
* interval: intervals of a day or more keep their local wall-clock time
  across DST; shorter ones are fixed amounts of absolute time.
* RRULE: evaluated in local wall-clock time (``DTSTART;TZID=...`` wins over
  the schedule's timezone).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter
from dateutil import rrule as rr

from core.errors import InvalidInput
from core.models import Schedule, ScheduleKind

# Fixed namespace: changing it would make every tick re-create every run.
RUN_ID_NAMESPACE = uuid.UUID("6f0d5c8e-3b7a-5e51-9a4c-2a1f0c3e7d11")

# Where interval and RRULE schedules without an anchor count from (as
# Prefect): midnight, 1 January 2020, in the schedule's own timezone.
DEFAULT_ANCHOR_DATE = (2020, 1, 1)

ONE_DAY = timedelta(days=1)

# Bounds a schedule must keep so every firing time stays a representable
# datetime (issue 13: ``interval: 1e300`` overflowed every tick).  Ten years
# between runs and anchors in 1900-2999 cover every real schedule.
MAX_INTERVAL = timedelta(days=3653)
ANCHOR_RANGE = (datetime(1900, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))

_SUB_DAILY_PERIOD = {
    rr.DAILY: timedelta(days=1),
    rr.HOURLY: timedelta(hours=1),
    rr.MINUTELY: timedelta(minutes=1),
    rr.SECONDLY: timedelta(seconds=1),
}


def scheduled_run_id(deployment_id: str, scheduled_time: datetime) -> str:
    """The id of the run a deployment's schedule creates for ``scheduled_time``."""
    key = f"{deployment_id}/{scheduled_time.astimezone(UTC).isoformat()}"
    return str(uuid.uuid5(RUN_ID_NAMESPACE, key))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(
            f"unknown timezone {name!r}; use an IANA name such as 'Europe/Paris'",
            path="timezone",
        ) from exc


def check_schedule(schedule: Schedule) -> None:
    """Raise ``InvalidInput`` naming the field unless ``schedule`` can be evaluated."""
    kinds = [schedule.cron, schedule.interval, schedule.rrule]
    if sum(k is not None for k in kinds) != 1:
        raise InvalidInput("set exactly one of cron, interval or rrule", path="schedule")
    tz = zone(schedule.timezone)
    if schedule.cron is not None and not croniter.is_valid(schedule.cron):
        raise InvalidInput(f"{schedule.cron!r} is not a valid cron expression", path="cron")
    _check_bounds(schedule)
    if schedule.rrule is not None:
        _parse_rrule(schedule.rrule, _local_naive(_anchor(schedule, tz), tz))


def _check_bounds(schedule: Schedule) -> None:
    if schedule.interval is not None and not (
        0 < schedule.interval <= MAX_INTERVAL.total_seconds()
    ):
        raise InvalidInput(
            f"must be more than 0 and at most {int(MAX_INTERVAL.total_seconds())} seconds "
            "(ten years)",
            path="interval",
        )
    anchor = schedule.anchor_date
    if anchor is not None:
        aware = anchor if anchor.tzinfo is not None else anchor.replace(tzinfo=UTC)
        if not ANCHOR_RANGE[0] <= aware < ANCHOR_RANGE[1]:
            raise InvalidInput("must be between the years 1900 and 2999", path="anchor_date")


def check_evaluates(schedule: Schedule, *, now: datetime) -> None:
    """Raise ``InvalidInput`` unless ``schedule`` can compute its next firing
    from ``now`` (the tick's own evaluation, tried once at input)."""
    try:
        occurrences(schedule, start=now, end=now + ONE_DAY, limit=1)
    except (ArithmeticError, ValueError) as exc:  # e.g. an RRULE with INTERVAL=0
        raise InvalidInput(
            f"cannot compute its firing times ({exc}); check the dates and rule", path="schedule"
        ) from exc


def occurrences(
    schedule: Schedule, *, start: datetime, end: datetime, limit: int
) -> list[datetime]:
    """At most ``limit`` firing times in ``[start, end)``, ascending, aware UTC."""
    if limit <= 0 or end <= start:
        return []
    tz = zone(schedule.timezone)
    kind = schedule.kind
    if kind is ScheduleKind.CRON:
        times = _cron(schedule, tz, start)
    elif kind is ScheduleKind.INTERVAL:
        times = _interval(schedule, tz, start)
    else:
        times = _rrule(schedule, tz, start)
    found: list[datetime] = []
    for when in times:
        if when >= end:
            break
        if when >= start:
            found.append(when)
            if len(found) == limit:
                break
    return found


def run_name_time(schedules: Iterable[Schedule], when: datetime) -> datetime:
    """``when`` on the wall clock of the deployment's active schedules, for run
    names: a noon Europe/Paris run is named ``...-120000``, not ``...-110000``.
    Schedules in different timezones give no single wall clock: UTC then."""
    zones = {s.timezone for s in schedules if s.active}
    return when.astimezone(zone(zones.pop()) if len(zones) == 1 else UTC)


def upcoming(
    schedules: Iterable[Schedule], *, start: datetime, end: datetime, limit: int
) -> list[datetime]:
    """The first ``limit`` distinct times any active schedule fires in ``[start, end)``."""
    times: set[datetime] = set()
    for schedule in schedules:
        if schedule.active:
            times.update(occurrences(schedule, start=start, end=end, limit=limit))
    return sorted(times)[:limit]


# -- cron ----------------------------------------------------------------------------


def _cron(schedule: Schedule, tz: ZoneInfo, start: datetime) -> Iterator[datetime]:
    assert schedule.cron is not None
    try:
        it = croniter(schedule.cron, start.astimezone(tz) - timedelta(seconds=1))
    except (ValueError, KeyError) as exc:
        raise InvalidInput(
            f"{schedule.cron!r} is not a valid cron expression", path="cron"
        ) from exc
    fixed_hours = _hour_field(schedule.cron) != "*"
    while True:
        try:
            local: datetime = it.get_next(datetime)
        except CroniterBadDateError:  # the expression never matches again
            return
        if fixed_hours and _is_repeated_wall_time(local):
            continue
        yield local.astimezone(UTC)


def _hour_field(expression: str) -> str:
    fields = expression.split()
    if len(fields) == 1:  # @hourly fires every hour; @daily, @weekly, ... at midnight
        return "*" if fields[0].lower() == "@hourly" else "0"
    # Five fields: minute hour ...; six (croniter's seconds extension) too,
    # since croniter puts seconds last.
    return fields[1]


def _is_repeated_wall_time(local: datetime) -> bool:
    """True for the second pass through a wall-clock hour that repeats at fall back."""
    first = local.replace(fold=0).utcoffset()
    second = local.replace(fold=1).utcoffset()
    return first != second and local.utcoffset() == second


# -- interval --------------------------------------------------------------------------


def _anchor(schedule: Schedule, tz: tzinfo) -> datetime:
    anchor = schedule.anchor_date
    if anchor is None:
        return datetime(*DEFAULT_ANCHOR_DATE, tzinfo=tz)
    return anchor.replace(tzinfo=tz) if anchor.tzinfo is None else anchor


def _local_naive(when: datetime, tz: tzinfo) -> datetime:
    return when.astimezone(tz).replace(tzinfo=None)


def _interval(schedule: Schedule, tz: ZoneInfo, start: datetime) -> Iterator[datetime]:
    assert schedule.interval is not None
    step = timedelta(seconds=schedule.interval)
    anchor = _anchor(schedule, tz).astimezone(UTC)
    # Whole steps from the anchor to just before ``start``; one step back
    # leaves room for the hour a DST change can shift local times by.
    k = (start - anchor) // step - 1
    if step < ONE_DAY:
        while True:
            yield anchor + k * step
            k += 1
    local_anchor = _local_naive(anchor, tz)
    while True:
        yield (local_anchor + k * step).replace(tzinfo=tz).astimezone(UTC)
        k += 1


# -- RRULE ---------------------------------------------------------------------------------


def _parse_rrule(text: str, dtstart: datetime) -> rr.rruleset:
    try:
        parsed = rr.rrulestr(text, dtstart=dtstart, forceset=True)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{text!r} is not a valid RRULE: {exc}", path="rrule") from exc
    assert isinstance(parsed, rr.rruleset)
    return parsed


def _rrule(schedule: Schedule, tz: ZoneInfo, start: datetime) -> Iterator[datetime]:
    assert schedule.rrule is not None
    ruleset = _parse_rrule(schedule.rrule, _local_naive(_anchor(schedule, tz), tz))
    # dateutil keeps a set's parts and a rule's fields private, without accessors.
    parts: dict[str, list[Any]] = vars(ruleset)
    rule_tz = next((vars(r)["_dtstart"].tzinfo for r in parts["_rrule"]), None)
    # Start a little early: naive wall-clock comparisons can be an hour off
    # around a DST change; the caller drops anything before ``start``.
    if rule_tz is None:
        after = _local_naive(start, tz) - timedelta(hours=3)
    else:
        after = start.astimezone(rule_tz) - timedelta(hours=3)
    for when in _rebased(parts, after).xafter(after, inc=True):
        if when.tzinfo is None:
            yield when.replace(tzinfo=tz).astimezone(UTC)
        else:
            yield when.astimezone(UTC)


def _rebased(parts: dict[str, list[Any]], after: datetime) -> rr.rruleset:
    """The same rule set with frequent rules restarted near ``after``.

    dateutil walks every occurrence from DTSTART, so a MINUTELY rule anchored
    in 2020 costs seconds per call.  Moving DTSTART forward by whole periods
    keeps exactly the same occurrences for rules without COUNT.
    """
    rebuilt = rr.rruleset()
    for rule in parts["_rrule"]:
        fields = vars(rule)
        period = _SUB_DAILY_PERIOD.get(fields["_freq"])
        dtstart: datetime = fields["_dtstart"]
        if period is not None and fields["_count"] is None and dtstart < after:
            step = period * fields["_interval"]
            dtstart += ((after - dtstart) // step) * step
        rebuilt.rrule(rule.replace(dtstart=dtstart) if dtstart != fields["_dtstart"] else rule)
    for rdate in parts["_rdate"]:
        rebuilt.rdate(rdate)
    for exrule in parts["_exrule"]:
        rebuilt.exrule(exrule)
    for exdate in parts["_exdate"]:
        rebuilt.exdate(exdate)
    return rebuilt
