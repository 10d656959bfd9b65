"""What the kill -9 suite drives: real ``pushpool server`` and ``pushpool
worker start`` processes, a flow that notes its pid, and the invariants of
design §3 ("Owners and fencing") checked through the API.

Nothing here knows how liveness or fencing is implemented: a check reads
runs, pool counters and the operating system's process table, as an
operator would.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.servers import PushpoolProcess

HELD = ("PENDING", "RUNNING", "CANCELLING")
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
T = TypeVar("T")

FLOW = """
import json, os, sys, time
run = os.environ["PUSHPOOL_FLOW_RUN_ID"]
def note(event):
    with open(sys.argv[1], "a") as fh:
        fh.write(json.dumps({"run": run, "event": event, "pid": os.getpid()}) + "\\n")
note("start")
time.sleep(float(sys.argv[2]))
note("end")
"""


def wait_for(check: Callable[[], T], *, timeout: float, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every)


def start_worker(api: str, pool: str, name: str, log: Path) -> PushpoolProcess:
    env = {
        **os.environ,
        "PUSHPOOL_API_URL": api,
        "PUSHPOOL_PROFILE": str(log.parent / "no-profile.json"),
        "PUSHPOOL_WORKER_POLL_SECONDS": "0.3",
        "PUSHPOOL_WORKER_WATCH_SECONDS": "0.2",
    }
    return PushpoolProcess(["worker", "start", "--pool", pool, "--name", name], log=log, env=env)


@dataclass
class Flows:
    """The flow's log: which process ran for which run, and which still live."""

    log: Path

    def command(self, script: Path, seconds: float) -> str:
        script.write_text(FLOW)
        return f"{sys.executable} {script} {self.log} {seconds}"

    def live(self) -> dict[str, list[int]]:
        """Run id -> pids of its processes still executing."""
        if not self.log.exists():
            return {}
        started: dict[int, str] = {}
        ended: set[int] = set()
        for line in self.log.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "start":
                started[event["pid"]] = event["run"]
            else:
                ended.add(event["pid"])
        live: dict[str, list[int]] = {}
        for pid, run in started.items():
            if pid not in ended and _running(pid):
                live.setdefault(run, []).append(pid)
        return live


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


@dataclass
class Watch:
    """In a thread while faults happen: samples the flows for a run with two
    live processes at once, and plays a hostile operator who keeps sending
    RUNNING runs back to SCHEDULED (issue 13, fault 2)."""

    flows: Flows
    pool: str
    api: Callable[[], str]
    twice: list[str] = field(default_factory=list)
    sent_back: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)

    def _run(self) -> None:
        turn = 0
        while not self._stop.wait(0.1):
            self.twice.extend(run for run, pids in self.flows.live().items() if len(pids) > 1)
            turn += 1
            if turn % 5 == 0:
                self._send_back()

    def _send_back(self) -> None:
        try:
            with httpx.Client(base_url=self.api(), timeout=5) as http:
                for run in runs(http, self.pool, HELD):
                    if run["state_type"] != "RUNNING":
                        continue
                    # Not forced: a forced SCHEDULED may rightly restart a run that
                    # ended since it was listed; unforced, only a RUNNING run could move.
                    body = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}}
                    answer = http.post(f"/flow_runs/{run['id']}/set_state", json=body).json()
                    if answer.get("status") == "ACCEPT":
                        self.sent_back.append(run["id"])
                    return
        except httpx.HTTPError:
            return  # the server is down for this fault: try again later


def runs(http: httpx.Client, pool: str, states: tuple[str, ...] | None = None) -> list[Any]:
    body: dict[str, Any] = {"work_pools": {"name": {"any_": [pool]}}, "limit": 200}
    if states is not None:
        body["flow_runs"] = {"state": {"type": {"any_": list(states)}}}
    response = http.post("/flow_runs/filter", json=body)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def problems(http: httpx.Client, pool: str, *, killed_at: float) -> list[str]:
    """What breaks design §3 once the liveness bound has passed since a kill:
    a run still held from before the kill (its owner is dead), slot counters
    that differ from the runs holding slots."""
    found: list[str] = []
    held = runs(http, pool, HELD)
    for run in held:
        touched = _epoch(run["state"]["timestamp"])
        if touched < killed_at:
            found.append(
                f"run {run['name']} is still {run['state_type']} for worker "
                f"{run.get('worker_name')!r} since before the kill"
            )
    slots = http.get(f"/work_pools/{pool}").json()["active_slots"]
    if slots != len(held):
        found.append(f"the pool counts {slots} slots but {len(held)} runs hold slots")
    return found


def _epoch(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp).timestamp()
