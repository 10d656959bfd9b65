"""Rendering helpers: Prefect-styled tables, ``inspect`` blocks, times and bars."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape
from rich.pretty import pretty_repr
from rich.table import Table

from handlers.cli.common import console


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value: Any, *, now: datetime | None = None) -> str:
    """'2 minutes ago' / 'in 5 seconds', as Prefect's inspect shows times."""
    moment = parse_time(value)
    if moment is None:
        return "never"
    delta = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = delta < 0
    seconds = abs(int(delta))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size or size == 1:
            count = seconds // size
            text = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {text}" if future else f"{text} ago"
    return "now"  # pragma: no cover


def short_time(value: Any) -> str:
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def limit_text(limit: Any) -> str:
    return "None" if limit is None else str(limit)


def table(title: str, *, caption: str | None = None) -> Table:
    return Table(title=title, caption=caption, caption_style="red")


def inspect_block(kind: str, data: Mapping[str, Any]) -> None:
    """``Kind(field=value, ...)`` like Prefect's ``inspect``, with relative times."""
    shown = {
        key: ago(value) if key in {"created", "updated"} else value for key, value in data.items()
    }
    lines = [f"{kind}("]
    for key, value in shown.items():
        text = pretty_repr(value, max_width=console.width - 8).replace("\n", "\n    ")
        lines.append(f"    {key}={text},")
    lines.append(")")
    console.print(escape("\n".join(lines)))


def bar(used: int, limit: int | None, *, width: int = 20) -> str:
    """A text bar of slots in use; unlimited pools show used slots only."""
    if limit is None:
        return f"{'█' * min(used, width)} {used} / ∞"
    if limit == 0:
        return f"{'░' * width} {used} / 0"
    filled = round(width * min(used, limit) / limit)
    return f"{'█' * filled}{'░' * (width - filled)} {used} / {limit}"
