"""When schedules fire: cron, interval and RRULE, with timezones and DST."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from core.errors import InvalidInput
from core.models import Schedule
from core.rules.schedules import (
    check_schedule,
    occurrences,
    run_name_time,
    scheduled_run_id,
    upcoming,
)

NY = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(times: list[datetime]) -> list[str]:
    return [t.strftime("%m-%d %H:%M") for t in times]


def fire(schedule: Schedule, start: datetime, end: datetime, limit: int = 100) -> list[datetime]:
    result = occurrences(schedule, start=start, end=end, limit=limit)
    assert all(t.tzinfo is UTC for t in result)
    return result


# -- cron -------------------------------------------------------------------------------


def test_cron_fires_in_the_window_start_inclusive_end_exclusive():
    s = Schedule(cron="*/15 * * * *")
    assert hours(fire(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 11))) == [
        "01-01 10:00",
        "01-01 10:15",
        "01-01 10:30",
        "01-01 10:45",
    ]


def test_cron_count_is_bounded():
    s = Schedule(cron="* * * * *")
    assert len(fire(s, utc(2026, 1, 1), utc(2026, 1, 2), limit=7)) == 7


def test_cron_is_evaluated_in_its_timezone():
    s = Schedule(cron="0 9 * * *", timezone="Europe/Paris")
    winter = fire(s, utc(2026, 1, 10), utc(2026, 1, 11))
    summer = fire(s, utc(2026, 7, 10), utc(2026, 7, 11))
    assert hours(winter) == ["01-10 08:00"]
    assert hours(summer) == ["07-10 07:00"]


def test_cron_time_skipped_by_spring_forward_fires_right_after_the_gap():
    s = Schedule(cron="30 2 * * *", timezone="America/New_York")
    times = fire(s, utc(2024, 3, 9), utc(2024, 3, 12))
    local = [t.astimezone(NY).strftime("%d %H:%M") for t in times]
    assert local == ["09 02:30", "10 03:00", "11 02:30"]


def test_daily_cron_fires_once_when_its_hour_repeats_at_fall_back():
    s = Schedule(cron="30 1 * * *", timezone="America/New_York")
    times = fire(s, utc(2024, 11, 2), utc(2024, 11, 5))
    assert hours(times) == ["11-02 05:30", "11-03 05:30", "11-04 06:30"]


def test_hourly_cron_keeps_absolute_hours_across_fall_back():
    s = Schedule(cron="0 * * * *", timezone="America/New_York")
    times = fire(s, utc(2024, 11, 3, 4), utc(2024, 11, 3, 8))
    assert hours(times) == ["11-03 04:00", "11-03 05:00", "11-03 06:00", "11-03 07:00"]


def test_hourly_cron_in_a_half_hour_offset_zone():
    s = Schedule(cron="0 * * * *", timezone="Asia/Kolkata")
    assert hours(fire(s, utc(2026, 1, 1, 0), utc(2026, 1, 1, 2))) == ["01-01 00:30", "01-01 01:30"]


def test_cron_aliases_follow_the_same_dst_rules():
    havana = "America/Havana"  # falls back at 01:00 -> 00:00, so midnight repeats
    daily = fire(Schedule(cron="@daily", timezone=havana), utc(2024, 11, 2), utc(2024, 11, 5))
    assert len(daily) == 3
    hourly = fire(Schedule(cron="@hourly"), utc(2026, 1, 1), utc(2026, 1, 1, 3))
    assert hours(hourly) == ["01-01 00:00", "01-01 01:00", "01-01 02:00"]


def test_cron_that_never_matches_fires_never():
    assert fire(Schedule(cron="0 0 30 2 *"), utc(2026, 1, 1), utc(2027, 1, 1)) == []


@pytest.mark.parametrize("expression", ["bad", "61 * * * *", "* * *"])
def test_invalid_cron_is_rejected_with_its_field(expression):
    with pytest.raises(InvalidInput, match="cron"):
        fire(Schedule(cron=expression), utc(2026, 1, 1), utc(2026, 1, 2))
    with pytest.raises(InvalidInput, match="cron"):
        check_schedule(Schedule(cron=expression))


def test_unknown_timezone_is_rejected():
    with pytest.raises(InvalidInput, match="timezone"):
        fire(Schedule(cron="* * * * *", timezone="Mars/Olympus"), utc(2026, 1, 1), utc(2026, 1, 2))


# -- interval ------------------------------------------------------------------------------


def test_interval_counts_from_its_anchor():
    s = Schedule(interval=600, anchor_date=utc(2026, 1, 1, 0, 7))
    assert hours(fire(s, utc(2026, 1, 1, 9), utc(2026, 1, 1, 9, 30))) == [
        "01-01 09:07",
        "01-01 09:17",
        "01-01 09:27",
    ]


def test_interval_before_its_anchor_is_aligned_too():
    s = Schedule(interval=3600, anchor_date=utc(2030, 1, 1, 0, 20))
    assert hours(fire(s, utc(2026, 1, 1, 9), utc(2026, 1, 1, 11))) == ["01-01 09:20", "01-01 10:20"]


def test_interval_without_anchor_counts_from_2020_in_its_timezone():
    s = Schedule(interval=86400, timezone="America/New_York")
    times = fire(s, utc(2026, 1, 10), utc(2026, 1, 11))
    assert [t.astimezone(NY).strftime("%H:%M") for t in times] == ["00:00"]


def test_daily_interval_keeps_local_time_across_dst():
    s = Schedule(
        interval=86400, anchor_date=datetime(2024, 1, 1, 9, tzinfo=NY), timezone="America/New_York"
    )
    times = fire(s, utc(2024, 3, 9), utc(2024, 3, 12))
    assert hours(times) == ["03-09 14:00", "03-10 13:00", "03-11 13:00"]
    assert {t.astimezone(NY).hour for t in times} == {9}


def test_sub_daily_interval_is_absolute_across_dst():
    s = Schedule(interval=3600, anchor_date=utc(2024, 1, 1), timezone="America/New_York")
    times = fire(s, utc(2024, 3, 10, 5), utc(2024, 3, 10, 9))
    assert [b - a for a, b in pairwise(times)] == [timedelta(hours=1)] * 3


def test_interval_with_a_naive_anchor_reads_it_in_the_schedule_timezone():
    s = Schedule(interval=86400, anchor_date=datetime(2024, 1, 1, 9), timezone="America/New_York")
    assert hours(fire(s, utc(2024, 7, 1), utc(2024, 7, 2))) == ["07-01 13:00"]


# -- RRULE -------------------------------------------------------------------------------------


def test_rrule_runs_in_local_wall_clock_time():
    s = Schedule(rrule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0", timezone="America/New_York")
    times = fire(s, utc(2024, 3, 9), utc(2024, 3, 12))
    assert hours(times) == ["03-09 14:00", "03-10 13:00", "03-11 13:00"]


def test_rrule_dtstart_timezone_wins_over_the_schedule_timezone():
    s = Schedule(rrule="DTSTART;TZID=Europe/Paris:20260101T080000\nRRULE:FREQ=WEEKLY;BYDAY=MO")
    assert hours(fire(s, utc(2026, 1, 1), utc(2026, 1, 15))) == ["01-05 07:00", "01-12 07:00"]


def test_rrule_exdate_removes_an_occurrence():
    s = Schedule(rrule="DTSTART:20260101T090000\nRRULE:FREQ=DAILY\nEXDATE:20260103T090000")
    assert hours(fire(s, utc(2026, 1, 1), utc(2026, 1, 5))) == [
        "01-01 09:00",
        "01-02 09:00",
        "01-04 09:00",
    ]


def test_rrule_with_count_ends():
    s = Schedule(rrule="DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=2")
    assert len(fire(s, utc(2026, 1, 1), utc(2026, 2, 1))) == 2
    assert fire(s, utc(2026, 1, 5), utc(2026, 2, 1)) == []


def test_frequent_rrule_far_from_its_start_is_exact_and_fast():
    text = "FREQ=MINUTELY;INTERVAL=7;BYHOUR=9,10"
    s = Schedule(rrule=text)
    began = time.perf_counter()
    recent = fire(s, utc(2026, 3, 1), utc(2026, 3, 2), limit=5)
    assert time.perf_counter() - began < 0.5
    # Same answer as walking every occurrence from the 2020 anchor.
    naive = rrulestr(text, dtstart=datetime(2020, 1, 1)).xafter(
        datetime(2026, 3, 1), count=5, inc=True
    )
    assert recent == [t.replace(tzinfo=UTC) for t in naive]


def test_invalid_rrule_is_rejected():
    with pytest.raises(InvalidInput, match="rrule"):
        check_schedule(Schedule(rrule="FREQ=SOMETIMES"))


# -- several schedules and run ids ---------------------------------------------------------------


def test_upcoming_merges_active_schedules_without_duplicates():
    schedules = [
        Schedule(cron="0 * * * *"),
        Schedule(interval=1800, anchor_date=utc(2026, 1, 1)),
        Schedule(cron="5 * * * *", active=False),
    ]
    times = upcoming(schedules, start=utc(2026, 1, 1, 10), end=utc(2026, 1, 1, 12), limit=3)
    assert hours(times) == ["01-01 10:00", "01-01 10:30", "01-01 11:00"]


def test_check_schedule_wants_exactly_one_kind():
    with pytest.raises(InvalidInput, match="exactly one"):
        check_schedule(Schedule(cron="* * * * *", interval=60))
    with pytest.raises(InvalidInput, match="exactly one"):
        check_schedule(Schedule())
    check_schedule(Schedule(interval=60))


def test_run_ids_are_stable_per_deployment_and_instant():
    at = utc(2026, 1, 1, 9)
    assert scheduled_run_id("d1", at) == scheduled_run_id("d1", at.astimezone(NY))
    assert scheduled_run_id("d1", at) != scheduled_run_id("d2", at)
    assert scheduled_run_id("d1", at) != scheduled_run_id("d1", at + timedelta(seconds=1))


def test_run_names_use_the_schedules_timezone_or_utc_when_they_disagree():
    when = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # noon in Paris (summer time)
    paris = Schedule(cron="0 12 * * *", timezone="Europe/Paris")
    new_york = Schedule(cron="0 6 * * *", timezone="America/New_York")
    assert run_name_time([paris], when).strftime("%H%M") == "1200"
    assert run_name_time([paris, paris], when).strftime("%H%M") == "1200"
    assert run_name_time([paris, new_york], when).strftime("%H%M") == "1000"
    paused_new_york = new_york.model_copy(update={"active": False})
    assert run_name_time([paris, paused_new_york], when).strftime("%H%M") == "1200"
    assert run_name_time([], when) == when
