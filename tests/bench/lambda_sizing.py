"""Lambda memory per function: measured CPU and peak RSS, billed duration and cold start at M MB.

``measure`` runs the cost model's run lifecycle with each function in a
worker process of its own (``tests.bench.lambda_functions.Worker``) against
a moto server in another process, so moto's CPU is not in the figures:
each warm invocation's CPU time (``time.process_time`` in the worker),
each worker's CPU from its start to the end of its first invocation (a cold
start: the interpreter, the handler module's imports, the first request's
lazy imports and clients) and its peak RSS (``getrusage``).

The model (``Sizing``): Lambda gives a function CPU in proportion to its
memory, one vCPU at 1,769 MB (AWS documentation), so below that a CPU
second measured here takes 1,769 / M seconds, assuming this machine's core
is about one Lambda vCPU.  A warm invocation's billed duration is the time
it waits on AWS (the cost model's per-request options) plus its CPU time
scaled so; a cold start's latency is its start-up CPU scaled the same way
(Lambda may give init more CPU than that; not assumed), its waits aside.
"""

from __future__ import annotations

import math
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.harness import ROOT, Figure, cpu_model, fake_aws_environment
from tests.bench.lambda_functions import HANDLER_MODULES, Worker
from tests.bench.lifecycle import UUID, Invocation, Lifecycle

MINUTES_PER_MONTH = 30 * 24 * 60
ONE_VCPU_MB = 1769  # Lambda: "at 1,769 MB, a function has the equivalent of one vCPU"
MEMORY_SIZES = (128, 256, 384, 512, 1024, 1769)
RSS_HEADROOM = 0.7  # a function's peak RSS stays under 70% of its memory
# template.yaml's logical id of each function the cost model prices.
LOGICAL_IDS = {
    "api": "ApiFunction",
    "dispatch": "DispatchFunction",
    "infra_events": "InfraEventsFunction",
    "tick": "TickFunction",
}


def template_memory(function: str, template: Path = ROOT / "template.yaml") -> int:
    """The function's MemorySize in the SAM template (its own, else Globals.Function's)."""
    text = template.read_text()
    block = re.search(rf"^  {LOGICAL_IDS[function]}:\n((?:(?:    .*)?\n)*)", text, re.M)
    if block is None:
        raise LookupError(f"{template.name} has no {LOGICAL_IDS[function]}")
    own = re.search(r"^      MemorySize:\s*(\S+)", block.group(1), re.M)
    default = re.search(
        r"^Globals:\n  Function:\n(?:    .*\n)*?    MemorySize:\s*(\S+)", text, re.M
    )
    found = own or default
    if found is None:
        return 128  # Lambda's default when nothing sets it
    if not found.group(1).isdigit():  # a !Ref or !If: the model cannot price it
        raise ValueError(f"{LOGICAL_IDS[function]}'s MemorySize is {found.group(1)!r}, not MB")
    return int(found.group(1))


def cpu_factor(memory_mb: int) -> float:
    """How much longer a CPU second takes at ``memory_mb`` than on one vCPU."""
    return max(1.0, ONE_VCPU_MB / memory_mb)


def kind(invocation: Invocation) -> tuple[str, str]:
    """What an invocation did, without its ids (one run's set_state is another's)."""
    return invocation.function, UUID.sub("{id}", invocation.what)


def waited_ms(invocation: Invocation, options: dict[str, Any]) -> float:
    """Time spent waiting on AWS: the per-request assumptions (options of the cost model)."""
    return (
        invocation.dynamodb.request_count * float(options["dynamodb_ms"])
        + invocation.sqs_sent * float(options["sqs_ms"])
        + invocation.provider_calls * float(options["runtask_ms"])
        + invocation.provider_polls * float(options.get("describe_ms", 0.0))
    )


@dataclass
class Sizing:
    """Measured CPU per kind of warm invocation, and each function's start-up and RSS."""

    warm_cpu_ms: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    start: dict[str, dict[str, float]] = field(default_factory=dict)

    def cpu_ms(self, invocation: Invocation) -> float:
        """Median CPU of this kind of invocation (of the function's, if never measured)."""
        samples = self.warm_cpu_ms.get(kind(invocation))
        if not samples:
            samples = [
                s
                for (f, _), found in self.warm_cpu_ms.items()
                if f == invocation.function
                for s in found
            ]
        return statistics.median(samples)

    def billed_ms(self, invocation: Invocation, memory_mb: int, options: dict[str, Any]) -> int:
        """Billed duration (1 ms granularity) at ``memory_mb``."""
        cpu = self.cpu_ms(invocation) * cpu_factor(memory_mb)
        return math.ceil(waited_ms(invocation, options) + cpu)

    def cold_start_ms(self, function: str, memory_mb: int) -> float:
        """Start-up CPU (interpreter, imports, first request) at ``memory_mb``, waits aside."""
        return self.start[function]["cold_cpu_ms"] * cpu_factor(memory_mb)

    def cheapest_memory(self, function: str) -> int:
        """The smallest size whose memory keeps the peak RSS under the headroom."""
        rss = self.start[function]["peak_rss_mib"]
        return next((m for m in MEMORY_SIZES if rss < RSS_HEADROOM * m), MEMORY_SIZES[-1])


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server in its own process; its endpoint URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a connection thread still open: its figures are in
            server.kill()
            server.wait()


def measure(
    forwarded: Sequence[Callable[[str, str], bool]], lifecycles: int, run_reports: int
) -> Sizing:
    """Run ``lifecycles`` warm run lifecycles per rule in ``forwarded`` (after one
    unrecorded lifecycle), and idle ticks, with each function in its own worker."""
    sizing = Sizing()
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    with fake_aws_environment(), moto_server() as endpoint:
        workers = {f: Worker(f, endpoint, "sizing") for f in HANDLER_MODULES}
        try:
            life = Lifecycle(
                run_reports=run_reports, table="sizing", endpoint=endpoint, workers=workers
            )
            deployment_id = life.setup()
            for rule in forwarded:
                life.forwarded = rule
                life.one_run(deployment_id)  # warm: the first of each kind of event
                for _ in range(lifecycles):
                    for invocation in life.one_run(deployment_id):
                        samples[kind(invocation)].append(float(invocation.cpu_ms or 0.0))
            life.tick()
            for _ in range(lifecycles):
                life.tick()
                samples[kind(life.invocations[-1])].append(float(life.invocations[-1].cpu_ms or 0))
            for function, worker in workers.items():
                sizing.start[function] = worker.finish()
        finally:
            for worker in workers.values():
                worker.kill()
    sizing.warm_cpu_ms = dict(samples)
    return sizing


def report(
    sizing: Sizing,
    life: list[Invocation],
    *,
    tick: Invocation,
    options: dict[str, Any],
    gb_second_usd: float,
    memory: Callable[[str], int],
) -> str:
    """Tables: each function's measured figures, and its billed time, $ and cold start
    at each memory size; then the created-now → RunTask latency at the chosen sizes."""
    million = 1_000_000
    lines = [
        f"Lambda sizing (CPU: {cpu_model()}; assumed ≈ one Lambda vCPU = {ONE_VCPU_MB} MB)",
        "",
        "function      peak RSS  start CPU  import CPU  cold CPU  warm CPU per invocation (median)",
    ]
    for function in HANDLER_MODULES:
        start = sizing.start[function]
        warm = ", ".join(
            f"{what} {statistics.median(s):.1f} ms"
            for (f, what), s in sorted(sizing.warm_cpu_ms.items())
            if f == function
        )
        lines.append(
            f"{function:12} {start['peak_rss_mib']:6.0f} MiB {start['start_cpu_ms']:7.0f} ms"
            f" {start['import_cpu_ms']:8.0f} ms {start['cold_cpu_ms']:7.0f} ms  {warm}"
        )
    lines += [
        "",
        "billed ms / $ (GB-seconds) / cold start ms, at M MB: per run (after) and $ per million"
        " runs; the tick: one idle tick and $ per idle month;",
        f"* = template.yaml; ! = peak RSS over {RSS_HEADROOM:.0%} of M",
        "function      " + "".join(f"{m:>22}" for m in MEMORY_SIZES),
    ]
    for function in HANDLER_MODULES:
        calls, times = [i for i in life if i.function == function], million
        if function == "tick":
            calls, times = [tick], MINUTES_PER_MONTH
        cells = []
        for m in MEMORY_SIZES:
            billed = sum(sizing.billed_ms(i, m, options) for i in calls)
            usd = billed / 1000 * m / 1024 * gb_second_usd * times
            mark = "*" if memory(function) == m else " "
            mark += "!" if sizing.start[function]["peak_rss_mib"] >= RSS_HEADROOM * m else " "
            cells.append(f"{billed:5.0f}/{usd:5.2f}/{sizing.cold_start_ms(function, m):5.0f}{mark}")
        lines.append(f"{function:12}  " + "".join(f"{c:>22}" for c in cells))
    lines += ["", latency(sizing, life, options, memory)]
    return "\n".join(lines)


def created_now_ms(
    sizing: Sizing,
    life: list[Invocation],
    options: dict[str, Any],
    memory: Callable[[str], int],
) -> tuple[float, float, float]:
    """Warm created-now → RunTask: the API's create request, the SQS hand-over and the
    dispatch pass up to its RunTask call (the pass without the RunTask wait); the API's
    part, the pass's part and the total, in ms."""
    create = next(i for i in life if i.function == "api")
    dispatch = next(i for i in life if i.function == "dispatch" and i.provider_calls)
    api_ms = sizing.billed_ms(create, memory("api"), options)
    pass_ms = (
        sizing.billed_ms(dispatch, memory("dispatch"), options)
        - float(options["runtask_ms"]) * dispatch.provider_calls
    )
    return api_ms, pass_ms, api_ms + float(options["sqs_delivery_ms"]) + pass_ms


def latency(
    sizing: Sizing, life: list[Invocation], options: dict[str, Any], memory: Callable[[str], int]
) -> str:
    api_ms, pass_ms, total = created_now_ms(sizing, life, options, memory)
    same = ", ".join(
        f"{m} MB {created_now_ms(sizing, life, options, lambda _, m=m: m)[2]:.0f} ms"
        for m in MEMORY_SIZES
    )
    return (
        f"warm created-now → RunTask at the template's sizes: API {api_ms:.0f} ms + SQS "
        f"hand-over {options['sqs_delivery_ms']} ms (assumed) + dispatch pass {pass_ms:.0f} ms"
        f" = {total:.0f} ms (goal < 300 ms); with both functions at {same}"
    )


def figures(
    sizing: Sizing, life: list[Invocation], options: dict[str, Any], memory: Callable[[str], int]
) -> list[Figure]:
    """Each function's measured start-up, RSS and warm CPU, and its memory; the modelled
    warm created-now → RunTask latency at the template's sizes."""
    found = [
        Figure.exact(
            "after: warm created-now → RunTask (modelled)",
            created_now_ms(sizing, life, options, memory)[2],
            unit="ms",
            note="goal < 300 ms",
        )
    ]
    for function in LOGICAL_IDS:
        start = sizing.start[function]
        warm = [
            s for (f, _), samples in sizing.warm_cpu_ms.items() if f == function for s in samples
        ]
        found += [
            Figure.exact(f"{function}: memory (template.yaml)", memory(function), unit="MB"),
            Figure.exact(f"{function}: peak RSS", start["peak_rss_mib"], unit="MiB"),
            Figure.exact(f"{function}: cold start CPU", start["cold_cpu_ms"], unit="ms"),
            Figure.of(f"{function}: warm CPU per invocation", warm, unit="ms"),
        ]
    return found
