"""A container group's output, read with ``Containers - List Logs``.

ACI answers a container's whole output as one string, with no cursor, so
the cursor here is the number of lines already read.  Lines carry the time
they were read (ACI's plain answer has no timestamps).  The output exists
only while the group does: after the run ends the provider deletes the group
(unless ``keep_container_group``), so lines not read before then are gone,
and a read of a deleted group has none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from core.ports import LogChunk, OutputLine


def read_output(
    client: Any,
    *,
    resource_group: str,
    name: str,
    after: str | None,
    clock: Callable[[], datetime],
    not_found: type[Exception],
) -> LogChunk:
    """Lines of the group's first container numbered above ``after``."""
    done = int(after) if after and after.isdigit() else 0
    try:
        group = client.container_groups.get(resource_group, name)
        container = group.containers[0].name
        logs = client.containers.list_logs(resource_group, name, container)
    except not_found:
        return LogChunk(cursor=str(done))  # deleted after the run: its output went with it
    lines = (logs.content or "").splitlines()
    now = clock()
    fresh = tuple(OutputLine(timestamp=now, message=line) for line in lines[done:])
    return LogChunk(lines=fresh, cursor=str(max(len(lines), done)))
