"""The shared provider contract run against the process provider, with real processes.

Each job is a small shell loop that waits for its exit code to appear in a
control file named after its own pid, so the harness can make it exit with
any code.  The "backend" is the kernel: a process is counted when it is
spawned, "fails to start" by being killed before it finishes, and "vanishes"
when it dies while the provider that started it is gone (a worker restart).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from core.ports import InfraPhase, Job
from providers.process import ProcessProvider, make_provider
from tests.providers.contract import ProviderContract, ProviderHarness, make_job

WAIT_FOR_EXIT = 'while [ ! -f "$CONTROL/$$" ]; do sleep 0.02; done; exit "$(cat "$CONTROL/$$")"'


class ProcessHarness(ProviderHarness):
    def __init__(self, control: Path) -> None:
        self.control = control
        self.children: list[subprocess.Popen[bytes]] = []
        self.provider: ProcessProvider = make_provider(grace_seconds=2.0, spawn=self._spawn)

    def _spawn(self, *args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(*args, **kwargs)
        self.children.append(child)
        return child

    def kill_leftovers(self) -> None:
        for child in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        return make_job(
            {
                "command": ["sh", "-c", WAIT_FOR_EXIT],
                "env": {"CONTROL": str(self.control)},
                "stream_output": False,
            },
            run_id=run_id,
            attempt=attempt,
            pool_type="process",
        )

    def infrastructure_count(self) -> int:
        return len(self.children)

    def backend_requests(self) -> int:
        return len(self.children)

    def start(self, infra_id: str) -> None:
        """A process runs from the moment it is spawned."""

    def exit(self, infra_id: str, code: int) -> None:
        pid = infra_id.split(":", maxsplit=1)[0]
        (self.control / pid).write_text(str(code))
        self._wait_until_terminal(infra_id)

    def fail_to_start(self, infra_id: str) -> str:
        os.kill(int(infra_id.split(":", maxsplit=1)[0]), signal.SIGKILL)
        self._wait_until_terminal(infra_id)
        return "SIGKILL"

    def vanish(self, infra_id: str) -> None:
        """The worker restarts (a new provider) and the process dies meanwhile."""
        os.kill(int(infra_id.split(":", maxsplit=1)[0]), signal.SIGKILL)
        self._wait_until_terminal(infra_id)
        self.provider = make_provider(grace_seconds=2.0, spawn=self._spawn)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        pytest.skip("a local process has no backend API that can throttle or reject requests")

    def heal(self) -> None:
        """Nothing to heal: see ``fail_requests``."""

    def _wait_until_terminal(self, infra_id: str) -> None:
        deadline = time.monotonic() + 5
        while self.provider.status(infra_id).phase in {InfraPhase.PENDING, InfraPhase.RUNNING}:
            if time.monotonic() > deadline:
                raise AssertionError(f"{infra_id} did not stop")
            time.sleep(0.02)


class TestProcessProviderContract(ProviderContract):
    @pytest.fixture
    def harness(self, tmp_path: Path):
        harness = ProcessHarness(tmp_path)
        yield harness
        harness.kill_leftovers()
