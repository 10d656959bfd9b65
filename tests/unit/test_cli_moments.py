"""``--start-at``: the times people type, read against an injected now."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from handlers.cli.moments import parse_moment

NOW = datetime(2026, 12, 4, 13, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("yesterday", datetime(2026, 12, 3, tzinfo=UTC)),
        ("Tomorrow 9:30", datetime(2026, 12, 5, 9, 30, tzinfo=UTC)),
        ("today at 2pm", datetime(2026, 12, 4, 14, tzinfo=UTC)),
        ("2026-12-31 23:59", datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2026-12-05T14:00:00Z", datetime(2026, 12, 5, 14, tzinfo=UTC)),
        (
            "2026-12-05T14:00:00+01:00",
            datetime(2026, 12, 5, 14, tzinfo=timezone(timedelta(hours=1))),
        ),
        ("Dec 5 2026 2pm", datetime(2026, 12, 5, 14, tzinfo=UTC)),
    ],
)
def test_common_formats_are_read_as_utc_unless_they_name_a_zone(text, expected):
    assert parse_moment(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text", ["next week", "", "2026-02-30", "99999-01-01", "tomorrow 2026-01-01", "Z", "yesterday+"]
)
def test_anything_else_is_refused_with_the_formats_that_work(text):
    with pytest.raises(ValueError, match=r"cannot read .* as a time; use now; today, tomorrow"):
        parse_moment(text, now=NOW)
