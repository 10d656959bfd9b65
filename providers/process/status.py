"""A child's exit, or a pid this worker did not start, -> ``InfraStatus``."""

from __future__ import annotations

import signal
from collections.abc import Iterable

from core.ports import InfraPhase, InfraStatus
from providers.process.procfs import alive


def exit_status(code: int, *, cancelled: bool, tail: Iterable[str]) -> InfraStatus:
    """A finished child: cancelled, killed by a signal (negative code), or exited.

    A failed child's last output lines are the reason a user reads first.
    """
    if cancelled:
        return InfraStatus(phase=InfraPhase.CANCELLED, exit_code=code, reason="cancelled")
    if code < 0:
        return InfraStatus(
            phase=InfraPhase.CRASHED,
            exit_code=code,
            reason=f"killed by signal {_signal_name(-code)}",
        )
    lines = list(tail)
    reason = "last output:\n" + "\n".join(lines) if code != 0 and lines else ""
    return InfraStatus(phase=InfraPhase.EXITED, exit_code=code, reason=reason)


def untracked_status(pid: int, token: str) -> InfraStatus:
    """A child this provider did not start (the worker restarted): alive or vanished."""
    if alive(pid, token):
        return InfraStatus(phase=InfraPhase.RUNNING)
    return InfraStatus(
        phase=InfraPhase.CRASHED,
        reason=f"process {pid} vanished (not started by this worker, so its exit code is lost)",
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
