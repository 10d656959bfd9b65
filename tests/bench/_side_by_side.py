"""The servers and workers of ``prefect_side_by_side``, each a real subprocess.

Prefect 3.9.1 lives in a virtualenv of its own (``.ci/run`` builds it from
``.ci/prefect.lock`` and sets ``PUSHPOOL_PREFECT`` to its ``prefect``), never
a dependency of pushpool: without it the benchmark skips.  Both sides run
the same way: ``<server>`` with SQLite in a temporary directory, on a free
loopback port, and its worker beside it, with their output in log files.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.bench.harness import ROOT
from tests.contract.backends import free_port

# The flow both sides run: it notes when its process started and exits.  It
# imports nothing (``python -S``), so both pay the same interpreter start.
FLOW = """\
import os, sys, time
started = time.time()
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(repr(started))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
"""


def find_prefect() -> Path | None:
    """Prefect's CLI as ``tests/compat`` finds it: ``PUSHPOOL_PREFECT``."""
    given = os.environ.get("PUSHPOOL_PREFECT")
    if given and Path(given).is_file():
        return Path(given)
    return None


def prefect_version(prefect: Path) -> str:
    """What ``prefect --version`` says; a ``PUSHPOOL_PREFECT`` that is not Prefect stops here,
    before minutes of measuring pushpool alone."""
    try:
        done = subprocess.run(
            [str(prefect), "--version"], capture_output=True, text=True, timeout=120, check=False
        )
    except OSError as exc:
        raise RuntimeError(f"PUSHPOOL_PREFECT={prefect} cannot be run: {exc}") from exc
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"PUSHPOOL_PREFECT={prefect} is not Prefect's CLI: `--version` exited "
            f"{done.returncode} {done.stderr.strip()[-300:]}"
        )
    return done.stdout.strip()


def _clean_env() -> dict[str, str]:
    """This process's environment without settings that would steer either side."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PUSHPOOL_"))}


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the benchmark dies, even by kill -9 (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PR_SET_PDEATHSIG = 1


class Child:
    """One subprocess in a process group of its own, with its output in ``log``.

    Stopping it sends SIGTERM, then SIGKILL, to the whole group: a worker's
    flow processes and a server's own children go with it.
    """

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Safe here: children start while no thread of this benchmark runs.
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.log.name}: exited with {self.process.returncode}\n{self.text()[-3000:]}"
            )

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # what the group's leader left behind
        self._out.close()


@contextmanager
def running(child: Child) -> Iterator[Child]:
    try:
        yield child
    finally:
        child.stop()


def wait_until(ready: Callable[[], bool], child: Child, what: str, *, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        child.check_alive()
        try:
            if ready():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} not ready within {within:g} s\n{child.text()[-3000:]}")


def healthy(api: str) -> bool:
    return httpx.get(f"{api}/health", timeout=2).status_code == 200


# -- Prefect ------------------------------------------------------------------------------------


def prefect_env(prefect: Path, home: Path, api: str | None = None) -> dict[str, str]:
    env = _clean_env() | {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",  # the API is measured, not the UI's static files
        "PREFECT_CLI_PROMPT": "false",
        "PATH": f"{prefect.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    if api:
        env["PREFECT_API_URL"] = api
    return env


def prefect_server(prefect: Path, tmp: Path) -> tuple[Child, str]:
    """``prefect server start`` with its SQLite database in ``tmp``; its API URL."""
    port = free_port()
    env = prefect_env(prefect, tmp / "server-home") | {
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
    }
    argv = [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    child = Child(argv, env, tmp / "prefect-server.log")
    return child, f"http://127.0.0.1:{port}/api"


def prefect_worker(
    prefect: Path, api: str, pool: str, tmp: Path, *, query_seconds: float | None
) -> Child:
    """``prefect worker start --type process``; ``query_seconds`` None keeps the default (10 s)."""
    env = prefect_env(prefect, tmp / f"worker-home-{pool}", api)
    if query_seconds is not None:
        env["PREFECT_WORKER_QUERY_SECONDS"] = f"{query_seconds:g}"
    argv = [str(prefect), "worker", "start", "--pool", pool, "--type", "process"]
    return Child(argv, env, tmp / f"prefect-worker-{pool}.log")


# -- pushpool -----------------------------------------------------------------------------------


def pushpool_server(tmp: Path, *, with_worker: bool) -> tuple[Child, str]:
    """``pushpool server`` (``handlers.cli``) on SQLite in ``tmp``; its API URL."""
    port = free_port()
    name = "with-worker" if with_worker else "server"
    argv = [sys.executable, "-m", "handlers.cli", "server", "--port", str(port)]
    argv += ["--store", f"sqlite:///{tmp / f'pushpool-{name}.db'}"]
    if with_worker:
        argv.append("--with-worker")
    env = _clean_env() | {"PUSHPOOL_PROFILE": str(tmp / "no-profile.json")}
    return Child(argv, env, tmp / f"pushpool-{name}.log"), f"http://127.0.0.1:{port}/api"


def pushpool_worker(api: str, pool: str, tmp: Path) -> Child:
    """``pushpool worker start`` with its defaults (long-poll 10 s, poll every 5 s)."""
    env = _clean_env() | {
        "PUSHPOOL_API_URL": api,
        "PUSHPOOL_PROFILE": str(tmp / "no-profile.json"),
    }
    argv = [sys.executable, "-m", "handlers.cli", "worker", "start", "--pool", pool]
    return Child(argv, env, tmp / f"pushpool-worker-{pool}.log")
