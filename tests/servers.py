"""Real ``pushpool`` commands as child processes, one way for every test that needs them.

A test that asks for a real ``pushpool server`` (a second process on the
same store, a SIGTERM, a kill -9, a browser, the Prefect client) starts it
here: ``--port 0`` so the operating system picks a free port (no race
between picking and binding), the URL read from the line the server prints
once it listens, ``/health`` asked until it answers.  Output goes to a log
file, not a pipe: nothing has to drain it, flows the server starts may
outlive it holding the file, and a failing test shows the log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parents[1]
READY = "pushpool API at "  # handlers/local/server.py prints it, flushed, once it listens


class PushpoolProcess:
    """``python -m handlers.cli ARGS`` as a child process, its output appended to ``log``."""

    def __init__(self, args: list[str], *, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(f"--- {' '.join(args[:1])} start\n")
        self.offset = log.stat().st_size  # where this process's output begins
        self._out = log.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", *args],
            cwd=ROOT,
            env=dict(os.environ if env is None else env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        """Everything in the log (earlier processes that shared it included)."""
        return self.log.read_text()

    def output(self) -> str:
        """What this process wrote."""
        return self.log.read_text()[self.offset :]

    def wait(self, timeout: float = 30.0) -> int:
        """Its exit code, once it exits by itself."""
        try:
            return self.process.wait(timeout)
        finally:
            self._out.close()

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._out.close()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and its exit code; one that outlives ``timeout`` is killed and fails the test."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(
                f"pushpool {self.process.args[3]} did not stop within {timeout} s of SIGTERM:\n"
                + self.output()
            ) from None
        finally:
            self._out.close()


class ServerProcess(PushpoolProcess):
    """``pushpool server --port 0 [--store STORE] ARGS``, serving once constructed.

    ``env`` is the server's whole environment (default: this process's);
    ``url`` is its API URL (``http://127.0.0.1:PORT/api``), ``site_url`` the
    root the UI is served from.  A context manager: leaving it stops the server.
    """

    def __init__(
        self,
        *args: str,
        log: Path,
        store: str | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        command = ["server", "--port", "0", *(["--store", store] if store else []), *args]
        super().__init__(command, log=log, env=env)
        try:
            self.url = self._wait_until_serving(start_timeout)
        except BaseException:
            if self.running():
                self.process.kill()
                self.process.wait(10)
            self._out.close()
            raise

    @property
    def site_url(self) -> str:
        return self.url.removesuffix("/api")

    def _wait_until_serving(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            url = next(
                (ln.split()[3] for ln in self.output().splitlines() if ln.startswith(READY)), None
            )
            assert url or self.running(), "pushpool server exited:\n" + self.output()
            assert url or time.monotonic() < deadline, "no API URL in time:\n" + self.output()
            if url is None:
                time.sleep(0.05)
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            assert self.running(), "pushpool server exited:\n" + self.output()
            assert time.monotonic() < deadline, "/health never answered:\n" + self.output()
            time.sleep(0.05)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
