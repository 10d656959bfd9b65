"""Rules for work-pool names and the objects a new pool starts with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.errors import Forbidden, InvalidInput
from core.models import JSON, WorkPool, WorkQueue

FORBIDDEN_NAME_CHARACTERS = frozenset("/%&><\\")
NAME_RULE = (
    "names are printable characters (no control, format or line-break characters "
    "such as NUL, newline or right-to-left marks), are not only dots, and may not contain "
    "any of / \\ % & > <"
)
RESERVED_PREFIX = "prefect"
DEFAULT_QUEUE_NAME = "default"


def clean_name(raw: str, *, kind: str = "work pool") -> str:
    """A usable pool or queue name, or ``InvalidInput`` saying what to fix.

    Surrounding spaces and quotes are stripped (a name pasted with quotes
    means the same name); the result must be non-empty and avoid the
    characters that break URLs, paths and shells or hide in a terminal.
    """
    name = raw.strip().strip("'\"").strip()
    if not name:
        raise InvalidInput(f"the {kind} name is empty; give a name", path="name")
    bad = sorted(FORBIDDEN_NAME_CHARACTERS & set(name))
    # isprintable() is False for every control, format (bidi overrides,
    # zero-width) and separator character but the ASCII space: characters
    # that hide in a terminal or flip how a name reads (issue 14).
    bad += sorted({repr(c)[1:-1] for c in name if not c.isprintable()})
    if not name.strip("."):  # "." and ".." are path steps: a URL cannot name them
        bad.append(name)
    if bad:
        raise InvalidInput(
            f"the {kind} name {name!r} contains {' '.join(bad)}; {NAME_RULE}", path="name"
        )
    return name


def check_pool_name(raw: str) -> str:
    name = clean_name(raw)
    if name.lower().startswith(RESERVED_PREFIX):
        raise Forbidden(
            f"work pool names starting with {RESERVED_PREFIX!r} are reserved; choose another name"
        )
    return name


def new_pool(
    *,
    name: str,
    pool_type: str,
    base_job_template: JSON,
    pool_id: str,
    queue_id: str,
    now: datetime,
    description: str = "",
    concurrency_limit: int | None = None,
    is_paused: bool = False,
) -> tuple[WorkPool, WorkQueue]:
    """A pool and its default queue (priority 1), ready to be stored together."""
    if concurrency_limit is not None and concurrency_limit < 0:
        raise InvalidInput("must be 0 or more, or null for no limit", path="concurrency_limit")
    pool = WorkPool(
        id=pool_id,
        name=check_pool_name(name),
        type=pool_type,
        description=description,
        is_paused=is_paused,
        concurrency_limit=concurrency_limit,
        base_job_template=base_job_template,
        default_queue_id=queue_id,
        created=now,
        updated=now,
    )
    queue = WorkQueue(
        id=queue_id,
        pool_id=pool_id,
        name=DEFAULT_QUEUE_NAME,
        description="The work pool's default queue.",
        priority=1,
        created=now,
        updated=now,
    )
    return pool, queue


def unknown_type_message(pool_type: str, known: Sequence[str]) -> str:
    """The one wording (and order: the registry's) of an unknown pool type, wherever it is met."""
    return f"unknown work pool type {pool_type!r}; valid types are: {', '.join(known)}"
