"""``ProcessProvider``: start a child, drain its output, poll it, cancel its process group.

See the package docstring for the environment, the output ring and the ids.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.process.errors import translated
from providers.process.procfs import (
    alive,
    group_alive,
    parse_infra_id,
    signal_group,
    start_token,
)
from providers.process.request import ProcessRequest, build_request
from providers.process.status import exit_status, untracked_status
from providers.shared import OutputRing

INHERITED_ENV: tuple[str, ...] = (
    *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TEMP", "TMP", "VIRTUAL_ENV"),
    *("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT"),  # SYSTEMROOT: Windows
)
"""Variables of the worker's environment a child inherits (when set)."""

DEFAULT_GRACE_SECONDS = 10.0
TAIL_LINES = 20
OUTPUT_BUFFER_LINES = 5000
_POLL_SECONDS = 0.05
_OUTPUT_DRAIN_SECONDS = 1.0


@dataclass
class _Tracked:
    """A child this provider started, with what it knows about it."""

    popen: subprocess.Popen[bytes]
    temp_dir: str | None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    output: OutputRing = field(default_factory=lambda: OutputRing(OUTPUT_BUFFER_LINES))
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: bool = False
    finished_at: float | None = None


class ProcessProvider:
    """Runs jobs as local subprocesses; polled (no events)."""

    emits_events = False
    supports_polling = True
    supports_logs = True

    def __init__(
        self,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        output: TextIO | None = None,
        inherit_env: Sequence[str] = INHERITED_ENV,
        base_env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        retain_seconds: float = 3600.0,
        spawn: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        source = os.environ if base_env is None else base_env
        self._inherited = {k: source[k] for k in inherit_env if k in source}
        self._grace = grace_seconds
        self._output = output
        self._sleep = sleep
        self._monotonic = monotonic
        self._retain = retain_seconds
        self._spawn = spawn
        self._clock = clock
        self._lock = threading.Lock()
        self._tracked: dict[str, _Tracked] = {}
        self._by_key: dict[str, str] = {}

    def build_request(self, job: Job) -> ProcessRequest:
        return build_request(job)

    # -- submit ---------------------------------------------------------------

    def submit(self, request: ProcessRequest, *, idempotency_key: str) -> str:
        """Start the child and return its id; the same key returns the same id."""
        with self._lock:
            self._forget_old()
            known = self._by_key.get(idempotency_key)
            if known is not None:
                return known
            infra_id, tracked = self._start(request)
            self._tracked[infra_id] = tracked
            self._by_key[idempotency_key] = infra_id
        threading.Thread(
            target=self._watch, args=(tracked, request), name=f"process-{infra_id}", daemon=True
        ).start()
        return infra_id

    def _start(self, request: ProcessRequest) -> tuple[str, _Tracked]:
        temp_dir = None
        cwd = request.working_dir
        if cwd is None:
            temp_dir = cwd = tempfile.mkdtemp(prefix="pushpool-run-")
        try:
            with translated(f"start {request.argv[0]!r} in {cwd}"):
                popen = self._spawn(
                    list(request.argv),
                    env={**self._inherited, **request.env},
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: cancel reaches grandchildren
                )
        except InfrastructureError:
            _remove(temp_dir)
            raise
        token = start_token(popen.pid) or f"t{time.time_ns()}"
        return f"{popen.pid}:{token}", _Tracked(popen=popen, temp_dir=temp_dir)

    def _watch(self, tracked: _Tracked, request: ProcessRequest) -> None:
        """Pump output, wait for the exit, clean up: the child's whole life."""
        pump = threading.Thread(target=self._pump, args=(tracked, request), daemon=True)
        pump.start()
        tracked.popen.wait()
        # A grandchild may hold the pipe open after the child exited: do not wait forever.
        pump.join(_OUTPUT_DRAIN_SECONDS)
        _remove(tracked.temp_dir)
        tracked.finished_at = self._monotonic()
        tracked.done.set()

    def _pump(self, tracked: _Tracked, request: ProcessRequest) -> None:
        stream = tracked.popen.stdout
        assert stream is not None
        sink = (self._output or sys.stdout) if request.stream_output else None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            tracked.tail.append(line)
            tracked.output.add(self._clock(), line)
            if sink is not None:
                with contextlib.suppress(ValueError, OSError):  # the sink was closed
                    sink.write(f"{request.prefix}{line}\n")
                    sink.flush()
        stream.close()

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        """Output lines numbered above ``after``; a child this provider did not
        start (the worker restarted) has none."""
        tracked = self._tracked.get(infra_id)
        return tracked.output.read(after) if tracked else LogChunk(cursor=after)

    def _forget_old(self) -> None:
        """Drop children that finished long ago, so a long-lived worker stays small."""
        horizon = self._monotonic() - self._retain
        old = [
            infra_id
            for infra_id, t in self._tracked.items()
            if t.finished_at is not None and t.finished_at < horizon
        ]
        for infra_id in old:
            del self._tracked[infra_id]
        self._by_key = {k: v for k, v in self._by_key.items() if v in self._tracked}

    # -- status ---------------------------------------------------------------

    def status(self, infra_id: str) -> InfraStatus:
        pid, token = parse_infra_id(infra_id)
        tracked = self._tracked.get(infra_id)
        if tracked is None:
            return untracked_status(pid, token)
        if not tracked.done.is_set():
            return InfraStatus(phase=InfraPhase.RUNNING)
        return exit_status(tracked.popen.returncode, cancelled=tracked.cancelled, tail=tracked.tail)

    # -- cancel ---------------------------------------------------------------

    def cancel(self, infra_id: str) -> None:
        """SIGTERM the child's process group; SIGKILL what is left after the grace period.

        Returns once the group is gone (at most about ``grace_seconds``).  Cancelling
        something already finished is a no-op.
        """
        pid, token = parse_infra_id(infra_id)
        tracked = self._tracked.get(infra_id)
        if tracked is not None:
            if tracked.done.is_set():
                return
            tracked.cancelled = True
            group = pid
        else:
            if not alive(pid, token):
                return
            try:
                group = os.getpgid(pid)
            except ProcessLookupError:
                return
            if group != pid:  # not a session leader we started: never signal a stranger group
                group = -pid
        self._terminate(group)
        if tracked is not None:  # so the next status() already says CANCELLED
            tracked.done.wait(_OUTPUT_DRAIN_SECONDS + 1.0)

    def _terminate(self, group: int) -> None:
        if not signal_group(group, signal.SIGTERM):
            return
        deadline = self._monotonic() + self._grace
        while self._monotonic() < deadline:
            if not group_alive(group):
                return
            self._sleep(_POLL_SECONDS)
        signal_group(group, signal.SIGKILL)


def _remove(path: str | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
