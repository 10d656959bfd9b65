"""Process requests: the pure part (job configuration -> the child to start)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import InfrastructureError
from core.ports import Job
from providers.shared import command_list, flag, string_map


@dataclass(frozen=True)
class ProcessRequest:
    """Everything needed to start the child, computed without side effects."""

    argv: tuple[str, ...]
    env: dict[str, str]  # the job's env only; merged over INHERITED_ENV at submit
    working_dir: str | None  # None: a fresh temporary directory, removed afterwards
    stream_output: bool
    prefix: str  # put before each streamed output line

    def as_json(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "env": dict(sorted(self.env.items())),
            "working_dir": self.working_dir,
            "stream_output": self.stream_output,
            "prefix": self.prefix,
        }


def build_request(job: Job) -> ProcessRequest:
    """The child to start for ``job``'s rendered configuration (pure)."""
    config = job.configuration
    try:
        argv = tuple(command_list(config.get("command")))
    except ValueError as exc:  # shlex: an unbalanced quote
        raise InfrastructureError(
            f"command {config.get('command')!r} cannot be split into arguments: {exc}",
            retryable=False,
        ) from exc
    if not argv:
        raise InfrastructureError(
            "a process pool job needs a command: set `command` in the deployment or the "
            "pool's job variables",
            retryable=False,
        )
    working_dir = config.get("working_dir")
    stream_output = config.get("stream_output")
    return ProcessRequest(
        argv=argv,
        env=string_map(config.get("env"), what="env"),
        working_dir=str(working_dir) if working_dir else None,
        stream_output=True if stream_output in (None, "") else flag(stream_output),
        prefix=f"[{config.get('name') or job.run_name}] ",
    )
