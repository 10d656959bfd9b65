"""Process pools: a flow run is a local subprocess of the pull worker.

Why a provider at all for a subprocess: the worker drives every pool type
through the same ``Provider`` port, so a process run is submitted, polled
and cancelled exactly like a container.  The child gets its own session
(process group), so cancelling reaches the grandchildren a shell spawns
(POSIX only: process groups and signals).

The environment is *not* the worker's whole environment: the worker holds a
worker-scoped API token and whatever else its host exports, which a flow run
must not see.  The child gets the job's ``env`` over only the variables
named in ``INHERITED_ENV`` (system basics a program needs to start).

The child's output (stdout and stderr, merged) is drained continuously, so
a child never blocks on a full pipe, into a bounded in-memory ring of
``OUTPUT_BUFFER_LINES`` numbered lines that ``read_logs`` serves (the
worker ships it to the API); when a reader falls that far behind, the
oldest lines go and ``read_logs`` counts them as dropped.

Infrastructure ids are ``"<pid>:<start time>"``, the start time being the
kernel's start tick from ``/proc/<pid>/stat``, so a pid the kernel reused for
another process is never mistaken for ours after a worker restart.
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
from typing import Any, TextIO

from core.errors import InfrastructureError
from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.shared import OutputRing, command_list, flag, string_map

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
            popen = self._spawn(
                list(request.argv),
                env={**self._inherited, **request.env},
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: cancel reaches grandchildren
            )
        except OSError as exc:
            _remove(temp_dir)
            # EAGAIN (too many processes right now) may pass; a missing program will not.
            missing = isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError)
            raise InfrastructureError(
                f"cannot start {request.argv[0]!r} in {cwd}: {exc}", retryable=not missing
            ) from exc
        token = _start_token(popen.pid) or f"t{time.time_ns()}"
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
        pid, token = _parse(infra_id)
        tracked = self._tracked.get(infra_id)
        if tracked is None:
            return _untracked_status(pid, token)
        if not tracked.done.is_set():
            return InfraStatus(phase=InfraPhase.RUNNING)
        code = tracked.popen.returncode
        if tracked.cancelled:
            return InfraStatus(phase=InfraPhase.CANCELLED, exit_code=code, reason="cancelled")
        if code < 0:
            return InfraStatus(
                phase=InfraPhase.CRASHED,
                exit_code=code,
                reason=f"killed by signal {_signal_name(-code)}",
            )
        return InfraStatus(phase=InfraPhase.EXITED, exit_code=code, reason=_tail(tracked))

    # -- cancel ---------------------------------------------------------------

    def cancel(self, infra_id: str) -> None:
        """SIGTERM the child's process group; SIGKILL what is left after the grace period.

        Returns once the group is gone (at most about ``grace_seconds``).  Cancelling
        something already finished is a no-op.
        """
        pid, token = _parse(infra_id)
        tracked = self._tracked.get(infra_id)
        if tracked is not None:
            if tracked.done.is_set():
                return
            tracked.cancelled = True
            group = pid
        else:
            if not _alive(pid, token):
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
        if not _signal_group(group, signal.SIGTERM):
            return
        deadline = self._monotonic() + self._grace
        while self._monotonic() < deadline:
            if not _group_alive(group):
                return
            self._sleep(_POLL_SECONDS)
        _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, sig: int) -> bool:
    """Signal a process group (or one process when ``group`` < 0); False if it is gone."""
    try:
        if group < 0:
            os.kill(-group, sig)
        else:
            os.killpg(group, sig)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise InfrastructureError(
            f"not allowed to signal process group {abs(group)}: {exc}", retryable=False
        ) from exc
    return True


def _group_alive(group: int) -> bool:
    """Whether any live (non-zombie) process is left in ``group``.

    Signal 0 is not enough: an orphaned grandchild that died stays a zombie
    until PID 1 reaps it, and in a container PID 1 often never does.
    """
    if not os.path.isdir("/proc"):
        return _signal_group(group, 0)
    if group < 0:
        stat = _proc_stat(-group)
        return stat is not None and stat[0] not in {"Z", "X"}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[2] == str(group) and stat[0] not in {"Z", "X"}:
                return True
    return False


def _parse(infra_id: str) -> tuple[int, str]:
    pid, sep, token = infra_id.partition(":")
    if not sep or not pid.isdigit() or not token:
        raise InfrastructureError(
            f"{infra_id!r} is not a process id of the form 'pid:start'", retryable=False
        )
    return int(pid), token


def _start_token(pid: int) -> str | None:
    """The kernel's start tick for ``pid`` (field 22 of /proc/<pid>/stat), if readable."""
    stat = _proc_stat(pid)
    return stat[19] if stat else None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (after the command name, which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _alive(pid: int, token: str) -> bool:
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[19] == token and stat[0] not in {"Z", "X"}
    if os.path.isdir("/proc"):
        return False
    try:  # no /proc (macOS): the pid alone is the best evidence there is
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _untracked_status(pid: int, token: str) -> InfraStatus:
    """A child this provider did not start (the worker restarted): alive or vanished."""
    if _alive(pid, token):
        return InfraStatus(phase=InfraPhase.RUNNING)
    return InfraStatus(
        phase=InfraPhase.CRASHED,
        reason=f"process {pid} vanished (not started by this worker, so its exit code is lost)",
    )


def _tail(tracked: _Tracked) -> str:
    if tracked.popen.returncode == 0 or not tracked.tail:
        return ""
    return "last output:\n" + "\n".join(tracked.tail)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _remove(path: str | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def make_provider(**options: Any) -> ProcessProvider:
    """The registry's entry point (options: see ``ProcessProvider``)."""
    return ProcessProvider(**options)
