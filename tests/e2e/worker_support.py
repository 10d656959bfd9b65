"""What the worker tests share: a live API with tokens, workers as real
``python -m handlers.cli worker start`` subprocesses or in-process objects,
and a flow script that records when it ran and under which worker.

The API is the one ``tests.api.support`` starts (uvicorn on loopback, the
resolver Lambda runs), with bearer tokens required, so every worker here
talks HTTP with a worker-scoped token exactly as a deployed one would.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from core.ports import Provider
from handlers.worker import StartPolicy, Worker, WorkerSettings
from pushpool.client import Client
from tests.api.support import Env, ok
from tests.servers import PushpoolProcess

ROOT = Path(__file__).resolve().parents[2]
ACTIVE = ("PENDING", "RUNNING", "CANCELLING")
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
T = TypeVar("T")

FLOW_SCRIPT = """
import json, os, sys, time
params = json.loads(os.environ.get("PUSHPOOL_PARAMETERS") or "{}")
run = os.environ["PUSHPOOL_FLOW_RUN_ID"]
def note(event):
    with open(sys.argv[1], "a") as fh:
        fh.write(json.dumps({"run": run, "event": event, "t": time.time(), "worker": os.getppid()}) + "\\n")
note("start")
if params.get("report"):  # the flow reports its own final state with its run token
    import urllib.request
    body = json.dumps({"state": {"type": params["report"], "message": "reported by the flow"}})
    request = urllib.request.Request(
        os.environ["PUSHPOOL_API_URL"] + "/flow_runs/" + run + "/set_state",
        data=body.encode(), method="POST",
        headers={"Authorization": "Bearer " + os.environ["PUSHPOOL_RUN_TOKEN"],
                 "Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()
time.sleep(params.get("seconds", 0))
note("end")
sys.exit(params.get("code", 0))
"""


def wait_for(check: Callable[[], T], *, timeout: float = 15.0, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")


def run_of(http: httpx.Client, run_id: str) -> dict[str, Any]:
    return ok(http.get(f"/flow_runs/{run_id}"))  # type: ignore[no-any-return]


def active_runs(http: httpx.Client, pool: str) -> list[dict[str, Any]]:
    body = {
        "work_pools": {"name": {"any_": [pool]}},
        "flow_runs": {"state": {"type": {"any_": list(ACTIVE)}}},
    }
    return ok(http.post("/flow_runs/filter", json=body))  # type: ignore[no-any-return]


def all_ended(http: httpx.Client, run_ids: list[str]) -> bool:
    return all(run_of(http, r)["state_type"] in TERMINAL for r in run_ids)


@dataclass
class FlowScript:
    """The flow the process runs execute: it logs start/end and its worker's pid."""

    path: Path
    log: Path

    @classmethod
    def write(cls, directory: Path) -> FlowScript:
        path = directory / "flow.py"
        path.write_text(FLOW_SCRIPT)
        return cls(path=path, log=directory / "runs.jsonl")

    @property
    def command(self) -> str:
        return f"{sys.executable} {self.path} {self.log}"

    def events(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def max_overlap(self, *, worker: int | None = None) -> int:
        """Most runs that were executing at the same moment (per worker pid if given)."""
        moments = [
            (e["t"], 1 if e["event"] == "start" else -1)
            for e in self.events()
            if worker is None or e["worker"] == worker
        ]
        running = peak = 0
        for _, delta in sorted(moments, key=lambda m: (m[0], m[1])):
            running += delta
            peak = max(peak, running)
        return peak


class WorkerProcess(PushpoolProcess):
    """``python -m handlers.cli worker start`` as a child process."""

    def __init__(self, env: Env, token: str, args: list[str], logs: Path, **extra: str) -> None:
        environment = {
            **os.environ,
            "PUSHPOOL_API_URL": env.api.url,
            "PUSHPOOL_API_KEY": token,
            "PUSHPOOL_PROFILE": str(logs.parent / "no-profile.json"),
            "PUSHPOOL_WORKER_POLL_SECONDS": "0.3",
            "PUSHPOOL_WORKER_HEARTBEAT_SECONDS": "2",
            "PUSHPOOL_WORKER_WATCH_SECONDS": "0.2",
            **extra,
        }
        super().__init__(["worker", "start", *args], log=logs, env=environment)

    def wait_started(self) -> None:
        wait_for(lambda: "serving work pool" in self.text() or not self.running())
        assert self.running(), self.text()


@dataclass
class InProcessWorker:
    """A ``Worker`` object in a thread, for providers whose fakes live in the test."""

    worker: Worker
    thread: threading.Thread
    released: list[str]

    @classmethod
    def start(
        cls, env: Env, token: str, pool: str, provider: Provider, **settings: Any
    ) -> InProcessWorker:
        client = Client(env.api.url, api_key=token)
        options: dict[str, Any] = {
            "poll_seconds": 0.1,
            "watch_seconds": 0.1,
            "heartbeat_seconds": 5,
            "shutdown_grace_seconds": 0.0,
            "start": StartPolicy(submit_attempts=2, retry_seconds=0.1),
            **settings,
        }
        worker = Worker(client, WorkerSettings(pool=pool, name="in-process", **options),
                        provider=provider)  # fmt: skip
        worker.setup()
        released: list[str] = []
        thread = threading.Thread(target=lambda: released.extend(worker.run()), daemon=True)
        thread.start()
        return cls(worker=worker, thread=thread, released=released)

    def stop(self) -> list[str]:
        self.worker.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.worker.client.close()
        return self.released
