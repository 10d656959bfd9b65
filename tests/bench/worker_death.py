"""From a pull worker's death to its runs' slots being free (issue 13).

``python -m tests.bench.worker_death [--timeout S] [--repeat N]``

A real ``pushpool server`` (SQLite) and a real ``pushpool worker start``
holding three running runs; the worker is killed with SIGKILL and the
pool's ``active_slots`` polled every 0.1 s until it reads 0.  Two ways back:

* timeout: nothing restarts; the tick's reaper ends the runs once the
  worker has been silent past the pool's heartbeat timeout.  Expected:
  timeout + up to one tick (5 s) after the last heartbeat.
* restart: the worker starts again under the same name and ends what its
  earlier life held before its first claim.  Expected: its start-up time.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from providers.registry import REGISTRY
from tests.faults.support import HELD, Flows, runs, start_worker, wait_for
from tests.servers import ServerProcess

POOL = "bench"


def _setup(http: httpx.Client, flows: Flows, tmp: Path, timeout: int, runs_held: int) -> str:
    template = REGISTRY.default_template("process")
    template["variables"]["properties"]["heartbeat_timeout_seconds"] = {
        "type": "integer",
        "default": timeout,
    }
    body = {"name": POOL, "type": "process", "base_job_template": template}
    http.post("/work_pools/", json=body).raise_for_status()
    flow = http.post("/flows/", json={"name": "f"}).json()
    command = flows.command(tmp / "flow.py", 3600)
    deployment = {"name": "d", "flow_id": flow["id"], "work_pool_name": POOL, "command": command}
    created = http.post("/deployments/", json=deployment)
    created.raise_for_status()
    return str(created.json()["id"])


def _one(http: httpx.Client, api: str, deployment: str, tmp: Path, *, restart: bool, n: int,
         runs_held: int) -> float:  # fmt: skip
    for _ in range(runs_held):
        http.post(f"/deployments/{deployment}/create_flow_run", json={}).raise_for_status()
    name = f"victim-{n}"
    worker = start_worker(api, POOL, name, tmp / f"{name}.log")
    running = lambda: len(runs(http, POOL, ("RUNNING",))) == runs_held  # noqa: E731
    assert wait_for(running, timeout=60), worker.text()
    worker.kill9()
    died = time.monotonic()
    again = start_worker(api, POOL, name, tmp / f"{name}-again.log") if restart else None
    free = lambda: http.get(f"/work_pools/{POOL}").json()["active_slots"] == 0  # noqa: E731
    assert wait_for(free, timeout=600, every=0.1)
    seconds = time.monotonic() - died
    if again is not None:
        again.stop()
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=int, default=5, help="The pool's heartbeat timeout.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="Runs the worker holds when killed.")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pushpool-death-") as name:
        tmp = Path(name)
        server = ServerProcess(store=f"sqlite:///{tmp / 'db.sqlite'}", log=tmp / "server.log")
        api = server.url
        flows = Flows(tmp / "flows.jsonl")
        try:
            with httpx.Client(base_url=api, timeout=10) as http:
                deployment = _setup(http, flows, tmp, args.timeout, args.runs)
                figures = {}
                for restart in (False, True):
                    samples = [
                        _one(
                            http,
                            api,
                            deployment,
                            tmp,
                            restart=restart,
                            n=i + 10 * restart,
                            runs_held=args.runs,
                        )
                        for i in range(args.repeat)
                    ]
                    figures["restart" if restart else "timeout"] = samples
                assert not runs(http, POOL, HELD)
        finally:
            server.stop()
            for pids in flows.live().values():
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
    print(f"worker death -> its {args.runs} runs' slots free (heartbeat timeout "
          f"{args.timeout} s, server tick 5 s, {args.repeat} kills each)")  # fmt: skip
    for way, samples in figures.items():
        print(f"  {way:8s} median {statistics.median(samples):6.2f} s   "
              f"min {min(samples):6.2f} s   max {max(samples):6.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
