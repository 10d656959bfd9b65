"""Reading the times people type on the command line (``--start-at``).

ISO 8601 is what the API speaks, but nobody types ``2026-12-05T14:00:00+00:00``
to start a run: ``tomorrow 9:00``, ``2026-12-05 14:00`` and ``now`` are what
people write.  Times without a zone are UTC, as everywhere in the CLI.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from dateutil import parser as dateutil_parser

FORMATS = (
    "now; today, tomorrow or yesterday, optionally with a time (tomorrow 09:30); "
    "a date and time (2026-12-05 14:00, 2026-12-05T14:00:00+01:00, Dec 5 2026 2pm); "
    "times without a zone are UTC"
)
_RELATIVE_DAYS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_DAY_WORD = re.compile(r"^\s*(today|tomorrow|yesterday)\b\s*(?:at\s+)?(.*)$", re.IGNORECASE)


def parse_moment(text: str, *, now: datetime) -> datetime:
    """``text`` as an aware datetime; ``ValueError`` listing the formats that work."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    day = _DAY_WORD.match(cleaned)
    try:
        if day is not None:
            date = (now + timedelta(days=_RELATIVE_DAYS[day[1].lower()])).date()
            clock = _time_of_day(day[2]) if day[2].strip() else time(0, 0)
            return datetime.combine(date, clock, tzinfo=UTC)
        moment = dateutil_parser.parse(cleaned, default=datetime.combine(now.date(), time(0, 0)))
    except (ValueError, OverflowError):
        raise ValueError(f"cannot read {text!r} as a time; use {FORMATS}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)


def _time_of_day(text: str) -> time:
    parsed = dateutil_parser.parse(text, default=_ANCHOR)
    if parsed.date() != _ANCHOR.date() or parsed.tzinfo is not UTC:
        raise ValueError(text)  # "tomorrow 2026-01-01" names two days; zones go with dates
    return parsed.time()
