"""What every benchmark shares: the machine it ran on, figures, options.

A benchmark module exposes ``BENCHMARKS``, a list of :class:`Benchmark`.
``run(options)`` returns a :class:`Result` made of :class:`Figure` values
(samples summarised as median, min-max and, for latencies, percentiles)
and notes saying what the figures mean and what they do not.  Nothing here
asserts on time: a benchmark reports, the reader judges.

Options have a default size (a few minutes on 2 shared cores) and a full
size (``--full``); each is also a flag of its own, ``--<bench>-<option>``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


# -- the machine -----------------------------------------------------------------------------


def _meminfo_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_model() -> str:
    """This machine's CPU, as /proc/cpuinfo names it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the figures were measured on; they mean little without it."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = _meminfo_total()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "cores": usable,
        "cpu": cpu_model(),
        "memory_gib": round(memory / 2**30, 1) if memory else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "load_average_1m": round(load[0], 2) if load else None,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
        f"{info['implementation']} {info['python']}, {info['platform']}, "
        f"load {info['load_average_1m']} at start"
    )


# -- figures ------------------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(samples)
    if not ordered:
        raise ValueError("no samples")
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Figure:
    """One measured quantity: its samples summarised."""

    name: str
    unit: str
    n: int
    median: float
    min: float
    max: float
    percentiles: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @classmethod
    def of(
        cls,
        name: str,
        samples: Sequence[float],
        *,
        unit: str,
        percentiles: Sequence[int] = (),
        note: str = "",
    ) -> Figure:
        values = [float(s) for s in samples]
        return cls(
            name=name,
            unit=unit,
            n=len(values),
            median=statistics.median(values),
            min=min(values),
            max=max(values),
            percentiles={f"p{q}": percentile(values, q) for q in percentiles},
            note=note,
        )

    @classmethod
    def exact(cls, name: str, value: float, *, unit: str, note: str = "") -> Figure:
        """A count or a computed amount: one value, no spread."""
        return cls(name=name, unit=unit, n=1, median=value, min=value, max=value, note=note)


@dataclass
class Result:
    name: str
    title: str
    repetitions: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    text: str = ""  # a benchmark's own report, when it has one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- options ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    name: str
    default: Any
    full: Any
    help: str

    @property
    def kind(self) -> type:
        return type(self.default)


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    run: Callable[[dict[str, Any]], Result]
    options: tuple[Option, ...] = ()
    opt_in: bool = False  # only run when named (the load test)

    def values(self, *, full: bool, given: dict[str, Any]) -> dict[str, Any]:
        chosen = {o.name: (o.full if full else o.default) for o in self.options}
        chosen.update({k: v for k, v in given.items() if v is not None})
        return chosen


# -- helpers ---------------------------------------------------------------------------------------


@contextmanager
def fake_aws_environment() -> Iterator[None]:
    """Fake credentials and region for moto, restored afterwards."""
    names = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    dropped = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_PROFILE")
    saved = {k: os.environ.get(k) for k in (*names, *dropped)}
    os.environ.update(names)
    for key in dropped:
        os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started


def progress(message: str) -> None:
    """A line on stderr while a long benchmark runs (the table goes to stdout)."""
    print(f"  .. {message}", file=sys.stderr, flush=True)
