"""A Cloud Run execution's output, read from Cloud Logging (``entries.list``).

A Cloud Run job's containers write to Cloud Logging; each entry is labelled
with the execution it belongs to (``run.googleapis.com/execution_name``), so
the entries of one run's attempt are one filter away.  The cursor is the
last entry's ``timestamp|insertId``: the next read asks for entries at or
after that time and skips those already seen (entries are ordered by time,
then insert id).  Reading needs ``roles/logging.viewer`` on the project.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import InfrastructureError
from core.ports import LogChunk, OutputLine
from providers.cloud_run.sdk import sdk
from providers.shared import retryable_http_status

LOGGING_ENDPOINT = "https://logging.googleapis.com"
PAGE_SIZE = 1000
SEVERITY = {"DEBUG": 10, "INFO": 20, "NOTICE": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
SEVERITY |= {"ALERT": 50, "EMERGENCY": 50}


class CloudLoggingReader:
    def __init__(self, session: Callable[[], Any], *, endpoint: str = LOGGING_ENDPOINT) -> None:
        self._session = session  # an AuthorizedSession, built on first use
        self._endpoint = endpoint.rstrip("/")

    def read(self, execution_name: str, *, after: str | None) -> LogChunk:
        parts = execution_name.split("/")
        if len(parts) != 8 or parts[0] != "projects" or parts[6] != "executions":
            raise InfrastructureError(
                f"{execution_name!r} is not a Cloud Run execution name", retryable=False
            )
        seen_at, _, seen_id = (after or "").partition("|")
        where = [
            'resource.type="cloud_run_job"',
            f'labels."run.googleapis.com/execution_name"="{parts[7]}"',
        ]
        if seen_at:
            where.append(f'timestamp>="{seen_at}"')
        body = {
            "resourceNames": [f"projects/{parts[1]}"],
            "filter": " AND ".join(where),
            "orderBy": "timestamp asc",
            "pageSize": PAGE_SIZE,
        }
        entries = self._list(body)
        fresh = [e for e in entries if (e["timestamp"], e.get("insertId", "")) > (seen_at, seen_id)]
        if not fresh:
            return LogChunk(cursor=after)
        last = fresh[-1]
        return LogChunk(
            lines=tuple(_line(entry) for entry in fresh),
            cursor=f"{last['timestamp']}|{last.get('insertId', '')}",
        )

    def _list(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        url = f"{self._endpoint}/v2/entries:list"
        auth_errors, requests = sdk().auth_errors, sdk().requests
        try:
            response = self._session().post(url, json=body, timeout=30)
        except (auth_errors.DefaultCredentialsError, auth_errors.RefreshError) as exc:
            raise InfrastructureError(
                f"no usable Google credentials to read the run's logs: {exc}", retryable=False
            ) from exc
        except (auth_errors.TransportError, requests.RequestException) as exc:
            raise InfrastructureError(
                f"Cloud Logging could not be reached to read the run's logs: {exc}",
                retryable=True,
            ) from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:300]
            raise InfrastructureError(
                f"Cloud Logging refused to list the run's log entries ({response.status_code}): "
                f"{message}",
                retryable=retryable_http_status(response.status_code),
            )
        entries: list[dict[str, Any]] = response.json().get("entries", [])
        return entries


def _line(entry: dict[str, Any]) -> OutputLine:
    payload = entry.get("textPayload")
    if payload is None:
        payload = json.dumps(entry.get("jsonPayload", {}), sort_keys=True)
    return OutputLine(
        timestamp=parse_time(entry["timestamp"]),
        message=str(payload).rstrip("\n"),
        level=SEVERITY.get(str(entry.get("severity", "INFO")), 20),
    )


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (``2026-12-04T12:00:00.123456789Z``)."""
    head, _, rest = text.rstrip("Z").partition(".")
    micros = (rest + "000000")[:6] if rest else "000000"
    return datetime.strptime(f"{head}.{micros}", "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
