"""Cloud Logging's ``entries.list`` for the fake Cloud Run server.

Cloud Run jobs write their containers' output to Cloud Logging; this holds
the entries a test makes an execution print, with the real API's shape
(``LogEntry``: ``timestamp`` RFC 3339 with nanoseconds, ``insertId``,
``severity``, ``textPayload``, ``resource``, ``labels``) and answers the
subset of the filter language the provider sends: ``key="value"`` clauses
and ``timestamp>="..."`` joined by ``AND``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.cloud_run_api import ApiError

_CLAUSE = re.compile(r'^(?P<key>[\w.]+(?:\."[^"]+")?)\s*(?P<op>=|>=)\s*"(?P<value>[^"]*)"$')


@dataclass
class LogEntries:
    entries: list[dict[str, Any]] = field(default_factory=list)

    def write(self, execution: str, *messages: str, severity: str = "INFO") -> None:
        """The execution's container prints ``messages`` (one entry each)."""
        parts = execution.split("/")
        for message in messages:
            now = datetime.now(UTC)
            self.entries.append(
                {
                    "logName": f"projects/{parts[1]}/logs/run.googleapis.com%2Fstdout",
                    "resource": {
                        "type": "cloud_run_job",
                        "labels": {
                            "job_name": parts[5],
                            "location": parts[3],
                            "project_id": parts[1],
                        },
                    },
                    "labels": {
                        "run.googleapis.com/execution_name": parts[7],
                        "run.googleapis.com/task_index": "0",
                    },
                    "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
                    "receiveTimestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    "insertId": f"{len(self.entries):012x}",
                    "severity": severity,
                    "textPayload": message,
                }
            )

    def list(self, body: Any) -> dict[str, Any]:
        names = (body or {}).get("resourceNames") or []
        if not names or not all(re.match(r"^projects/[^/]+$", n) for n in names):
            raise ApiError(400, "INVALID_ARGUMENT", "resourceNames must name projects/PROJECT")
        clauses = [c.strip() for c in str(body.get("filter", "")).split(" AND ") if c.strip()]
        checks = []
        for clause in clauses:
            match = _CLAUSE.match(clause)
            if match is None:
                raise ApiError(400, "INVALID_ARGUMENT", f"Unparseable filter: {clause}")
            checks.append((match["key"], match["op"], match["value"]))
        found = [e for e in self.entries if all(_holds(e, *check) for check in checks)]
        found.sort(key=lambda e: (e["timestamp"], e["insertId"]))
        if body.get("orderBy") == "timestamp desc":
            found.reverse()
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 50)
        page = found[start : start + size]
        answer: dict[str, Any] = {"entries": page} if page else {}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return answer


def _holds(entry: dict[str, Any], key: str, op: str, value: str) -> bool:
    if key == "timestamp":
        return entry["timestamp"] >= value if op == ">=" else entry["timestamp"] == value
    if key.startswith("labels."):
        label = key.removeprefix("labels.").strip('"')
        return bool(entry["labels"].get(label) == value)
    if key == "resource.type":
        return bool(entry["resource"]["type"] == value)
    return False
