"""Process ids, ``/proc`` and process-group signals: what ``ProcessProvider`` knows of a pid.

An infrastructure id is ``"<pid>:<start tick>"`` (field 22 of
``/proc/<pid>/stat``), so a pid the kernel reused is never taken for ours.
Without ``/proc`` (macOS) the pid alone is the best evidence there is.
"""

from __future__ import annotations

import os

from core.errors import InfrastructureError


def signal_group(group: int, sig: int) -> bool:
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


def group_alive(group: int) -> bool:
    """Whether any live (non-zombie) process is left in ``group``.

    Signal 0 is not enough: an orphaned grandchild that died stays a zombie
    until PID 1 reaps it, and in a container PID 1 often never does.
    """
    if not os.path.isdir("/proc"):
        return signal_group(group, 0)
    if group < 0:
        stat = _proc_stat(-group)
        return stat is not None and stat[0] not in {"Z", "X"}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None and stat[2] == str(group) and stat[0] not in {"Z", "X"}:
                return True
    return False


def parse_infra_id(infra_id: str) -> tuple[int, str]:
    """``(pid, start tick)`` of an id ``submit`` returned; terminal error for anything else."""
    pid, sep, token = infra_id.partition(":")
    if not sep or not pid.isdigit() or not token:
        raise InfrastructureError(
            f"{infra_id!r} is not a process id of the form 'pid:start'", retryable=False
        )
    return int(pid), token


def start_token(pid: int) -> str | None:
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


def alive(pid: int, token: str) -> bool:
    """Whether ``pid`` still runs and is the process that had start tick ``token``."""
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
