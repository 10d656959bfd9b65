"""The four Lambda functions' work per invocation, in this process or in a worker of its own.

``Functions`` does what each function does for one invocation, over one
store: the API resolver (``handlers.api.app.handle``), a dispatcher pass
(``Dispatcher.dispatch``), the infrastructure-event service
(``observe.apply_status``, and the dispatch request a freed slot asks for)
and the tick (the cloud's ``DelegatingTicker.tick``, whose report becomes
messages as ``handlers.tick.messages`` says; a poll message is a dispatch
invocation that runs ``Lifecycle.observe`` as ``handlers.dispatch`` does).
``tests.bench.lifecycle`` drives it to count requests (in process, on
moto's in-process backend); an invocation may carry the time it happens at
(``now``), so a scenario can run through simulated minutes.

``Worker`` runs one function in a process of its own, as a Lambda execution
environment would: the process imports the function's handler module, then
serves invocations sent over its stdin against a moto server that runs in
yet another process.  So the CPU time a worker measures with
``time.process_time`` around each invocation is the handler's own work
(the services, the store, botocore building and parsing requests), not
moto's, and its peak RSS is that of a process that imports and serves this
one handler.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

# Nothing of pushpool is imported at module level: a worker imports its
# handler module first, so its start-up CPU is the interpreter's alone.

ROOT = Path(__file__).resolve().parents[2]
POOL_TYPE = "ecs:push"
RUN_TOKEN_KEY = b"k" * 32
# The Lambda handler module of each function (template.yaml's Handler).
HANDLER_MODULES = {
    "api": "handlers.api",
    "dispatch": "handlers.dispatch",
    "infra_events": "handlers.infra_events",
    "tick": "handlers.tick",
}


@dataclass
class CountingTrigger:
    """Records dispatch requests; each is one SQS message in the cloud."""

    requests: list[tuple[str, bool]] = field(default_factory=list)

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        self.requests.append((pool_name, look_after))


def events_recorder() -> Any:
    """The recording provider as ECS looks to the services: its task changes arrive as
    events (so only quiet runs are polled), and a poll finds the task still running
    (the scenario, not a poll, ends each run); each poll is counted."""
    from tests.bench.recording import RecordingProvider

    class EventsRecorder(RecordingProvider):
        emits_events = True

        def __init__(self) -> None:
            super().__init__(hold=float("inf"))
            self.polls = 0

        def status(self, infra_id: str) -> Any:
            self.polls += 1
            return super().status(infra_id)

    return EventsRecorder()


class Functions:
    """The services each function runs, over ``store``, as the cloud profile builds them."""

    def __init__(self, store: Any, table: str, clock: Callable[[], datetime] | None = None) -> None:
        from handlers.bootstrap import Settings, bootstrap

        self.store = store
        self.now: datetime | None = None  # an invocation's simulated time; None: the clock's
        self.clock = clock or self._now
        self.trigger = CountingTrigger()
        self.provider = events_recorder()
        settings = Settings(store_url=f"dynamodb://{table}", auth=True, run_token_key=RUN_TOKEN_KEY)
        self.container = bootstrap(
            store=store,
            settings=settings,
            trigger=self.trigger,
            providers={POOL_TYPE: self.provider},
            clock=self.clock,
        )

    # Built on first use: a worker builds only what its function runs.
    @cached_property
    def dispatcher(self) -> Any:
        from core.services.dispatch import Dispatcher
        from providers.registry import REGISTRY

        return Dispatcher(
            store=self.store,
            clock=self.clock,
            pool_types=REGISTRY,
            provider_for=lambda pool: self.provider,
            run_token=lambda run: self.container.run_token(run.id),
            api_url="https://api.example/api",
            turn_ids=self.container.ids,  # as the cloud profile builds it (handlers.profiles)
        )

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    @cached_property
    def ticker(self) -> Any:
        # the cloud's tick function: dispatch queues are deployed (handlers.profiles)
        from core.services.tick import DelegatingTicker
        from providers.registry import REGISTRY

        return DelegatingTicker(store=self.store, clock=self.clock, pool_types=REGISTRY)

    @cached_property
    def lifecycle(self) -> Any:
        from core.services.lifecycle import Lifecycle
        from handlers.profiles import CHOICES, Profile

        return Lifecycle(
            store=self.store,
            clock=self.clock,
            provider_for=lambda pool: self.provider,
            quiet_after=CHOICES[Profile.CLOUD].poll_only_quiet_after,
        )

    def invoke(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One invocation; what it answered, the dispatch requests (SQS messages) it
        sent, the provider submissions (RunTask calls) and polls it made."""
        sent, calls = len(self.trigger.requests), len(self.provider.submissions)
        polls = self.provider.polls
        self.now = datetime.fromisoformat(payload["now"]) if payload.get("now") else None
        reply: dict[str, Any] = {}
        if function == "api":
            from handlers.api.app import handle

            response = handle(payload["event"], container=self.container)
            reply = {"status": int(response["statusCode"]), "body": response.get("body")}
        elif function == "dispatch" and payload.get("kind") == "poll":
            self._poll(payload["pool"])
        elif function == "dispatch":
            # as handlers.dispatch: active runs are read only when asked to look after them
            self.dispatcher.dispatch(payload["pool"], resume=payload["look_after"])
        elif function == "infra_events":
            self._infra_event(payload)
        elif function == "tick":
            from handlers.tick import messages

            report = self.ticker.tick()
            wanted = messages(report)
            reply["messages"] = [m.model_dump(mode="json") for m in wanted]
            reply["created"] = len(report.created)
            reply["tick_messages"] = len(wanted)
        else:
            raise ValueError(f"no function {function!r}")
        reply["requests"] = self.trigger.requests[sent:]
        del self.trigger.requests[sent:]
        reply["submitted"] = len(self.provider.submissions) - calls
        reply["polls"] = self.provider.polls - polls
        return reply

    def _poll(self, pool_name: str) -> None:
        """A poll message, as ``handlers.dispatch.Batch.poll`` handles it."""
        observation = self.lifecycle.observe(self.store.get_pool(pool_name))
        if observation.released_slot:
            self.trigger.request_dispatch(pool_name)

    def _infra_event(self, payload: dict[str, Any]) -> None:
        from core.ports import InfraPhase, InfraStatus
        from core.services.observe import apply_status, slot_awaited

        status = InfraStatus(phase=InfraPhase(payload["phase"]), exit_code=payload["exit_code"])
        observed = apply_status(
            self.store,
            run_id=payload["run_id"],
            infra_id=payload["infra_id"],
            status=status,
            clock=self.clock,
        )
        # as the event handler does: a freed slot wakes the dispatcher if a run waits
        if (
            observed is not None
            and observed.released_slot
            and slot_awaited(self.store, observed.pool_id, self.clock())
        ):
            self.trigger.request_dispatch(observed.pool_name)


def cpu_seconds() -> float:
    """CPU time of this process since it started (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    """Peak resident set of this process since its exec.

    Linux's ``getrusage`` ``ru_maxrss`` keeps the parent's peak across fork and
    exec (the bench process, moto in it), so the kernel's high-water mark of
    this process's own memory map (``VmHWM``) is read instead where it exists.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Worker:
    """One function served by a process of its own (see the module docstring)."""

    def __init__(self, function: str, endpoint: str, table: str) -> None:
        if function not in HANDLER_MODULES:
            raise ValueError(f"no function {function!r}; one of {', '.join(HANDLER_MODULES)}")
        self.function = function
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.lambda_functions", function, endpoint, table],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        try:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except BrokenPipeError:
            line = ""
        if not line:
            raise RuntimeError(f"the {self.function} worker died (exit {self._process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.function} worker: {reply['error']}")
        return reply

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._ask({"invoke": payload})

    def finish(self) -> dict[str, Any]:
        """The worker's start-up CPU figures and peak RSS; it exits."""
        figures = self._ask({"finish": True})
        self._process.wait(timeout=30)
        return figures

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def serve(argv: list[str]) -> None:
    """The worker process: import the handler, then serve invocations from stdin."""
    function, endpoint, table = argv
    started = cpu_seconds()  # the interpreter's start and this module's imports
    answer, sys.stdout = sys.stdout, sys.stderr  # only replies go to the parent
    importlib.import_module(HANDLER_MODULES[function])
    imported = cpu_seconds()
    import boto3

    from core.store.dynamodb.store import DynamoStore

    client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
    functions = Functions(DynamoStore(table, client=client), table)
    first: float | None = None
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("finish"):
            figures = {
                "start_cpu_ms": started * 1000,
                "import_cpu_ms": (imported - started) * 1000,
                "cold_cpu_ms": (first or imported) * 1000,
                "peak_rss_mib": peak_rss_mib(),
            }
            print(json.dumps(figures), file=answer, flush=True)
            return
        try:
            before = time.process_time()
            reply = functions.invoke(function, message["invoke"])
            reply["cpu_ms"] = (time.process_time() - before) * 1000
        except Exception as exc:  # reported to the parent, which stops the benchmark
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        # a cold start: the interpreter, the imports and the first invocation
        first = cpu_seconds() if first is None else first
        print(json.dumps(reply), file=answer, flush=True)


if __name__ == "__main__":
    serve(sys.argv[1:])
