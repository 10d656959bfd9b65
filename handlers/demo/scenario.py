"""The demo's scenario and what it measures, without any rendering.

A process pool (limit 4) with three queues (critical: priority 1, limit 1;
high: priority 2, limit 2; low: priority 3, no limit), a deployment of
``handlers/demo/flow.py``, and 20 runs created while the pool is paused.
Resuming the pool lets the waterfall admit them; the summary is computed
from the runs' state histories, so it shows what really happened: the order
of the claims, how long each queue waited, the slots in use at most, and how
every run ended.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.models import FlowRun
from core.ports import Store
from core.states import SLOT_HOLDING, TERMINAL, StateType

FLOW_SCRIPT = Path(__file__).with_name("flow.py")
POOL = "demo-pool"
FLOW = "demo-flow"
DEPLOYMENT = "waterfall"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    priority: int
    limit: int | None


QUEUES = (QueueSpec("critical", 1, 1), QueueSpec("high", 2, 2), QueueSpec("low", 3, None))
# Which queue each run goes to, in creation order (3 critical, 7 high, 10 low
# per 20): creation order deliberately differs from priority order.
PATTERN: tuple[str, ...] = (
    "low",
    "high",
    "low",
    "critical",
    "high",
    "low",
    "low",
    "high",
    "low",
    "critical",
)
PATTERN += ("high", "low", "low", "high", "low", "critical", "high", "low", "low", "high")


@dataclass(frozen=True)
class Scenario:
    runs: int = 20
    seconds: float = 1.0
    pool_limit: int = 4
    queues: tuple[QueueSpec, ...] = QUEUES

    def queue_of(self, index: int) -> str:
        return PATTERN[index % len(PATTERN)]

    def fails(self, index: int) -> bool:
        """The last run of the lowest queue fails on purpose (exit code 1)."""
        lowest = self.queues[-1].name
        last = max(i for i in range(self.runs) if self.queue_of(i) == lowest)
        return index == last

    def command(self) -> str:
        return shlex.join([sys.executable, str(FLOW_SCRIPT)])


@dataclass(frozen=True)
class Outcome:
    id: str
    name: str
    queue: str
    admitted: int | None  # 1-based position in the claim order
    claimed_at: datetime | None
    ended_at: datetime | None
    end_state: str
    wait_seconds: float | None


@dataclass(frozen=True)
class QueueUse:
    name: str
    priority: int
    limit: int | None
    max_in_use: int
    runs: int
    mean_wait: float
    max_wait: float


@dataclass
class Summary:
    outcomes: list[Outcome]
    queues: list[QueueUse]
    pool_limit: int
    pool_max_in_use: int
    seconds: float
    finished: bool
    end_states: dict[str, int] = field(default_factory=dict)

    @property
    def admitted_order(self) -> list[Outcome]:
        admitted = [o for o in self.outcomes if o.admitted is not None]
        return sorted(admitted, key=lambda o: o.admitted or 0)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["admitted_order"] = [f"{o.queue}:{o.name}" for o in self.admitted_order]
        return data


def _claimed_at(run: FlowRun) -> datetime | None:
    history = (*run.state_history, run.state)
    return next((s.timestamp for s in history if s.type in SLOT_HOLDING), None)


def _max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """Most intervals open at once ([start, end): an end frees before a start)."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def claim_order(runs: list[FlowRun], scenario: Scenario) -> dict[str, int]:
    """Each claimed run's 1-based position in the order of claims.

    One dispatcher pass claims with one timestamp, in the waterfall's order:
    (queue priority, scheduled time, run id) breaks the tie the same way.
    """
    priority = {q.name: q.priority for q in scenario.queues}
    claimed = sorted(
        ((c, r) for r in runs if (c := _claimed_at(r)) is not None),
        key=lambda p: (
            p[0],
            priority.get(p[1].work_queue_name, len(priority) + 1),
            p[1].next_scheduled_start_time,
            p[1].id,
        ),
    )
    return {run.id: index for index, (_, run) in enumerate(claimed, start=1)}


def _outcome(run: FlowRun, position: int | None, released_at: datetime) -> Outcome:
    claimed_at = _claimed_at(run)
    return Outcome(
        id=run.id,
        name=run.name,
        queue=run.work_queue_name,
        admitted=position,
        claimed_at=claimed_at,
        ended_at=run.state.timestamp if run.state.is_terminal else None,
        end_state=run.state.type.value,
        wait_seconds=(claimed_at - released_at).total_seconds() if claimed_at else None,
    )


def _queue_use(spec: QueueSpec, outcomes: list[Outcome], now: datetime) -> QueueUse:
    mine = [o for o in outcomes if o.queue == spec.name]
    waits = [o.wait_seconds for o in mine if o.wait_seconds is not None]
    return QueueUse(
        name=spec.name,
        priority=spec.priority,
        limit=spec.limit,
        max_in_use=_max_overlap(_held(mine, now)),
        runs=len(mine),
        mean_wait=sum(waits) / len(waits) if waits else 0.0,
        max_wait=max(waits, default=0.0),
    )


def _held(outcomes: list[Outcome], now: datetime) -> list[tuple[datetime, datetime]]:
    """When each claimed run held its slots: from its claim to its end (or now)."""
    return [(o.claimed_at, o.ended_at or now) for o in outcomes if o.claimed_at is not None]


def summarise(
    store: Store, scenario: Scenario, *, pool_name: str, released_at: datetime, now: datetime
) -> Summary:
    """What happened to the pool's runs, from the store's state histories."""
    pool = store.get_pool(pool_name)
    runs = sorted(store.list_runs(pool_id=pool.id, limit=10_000), key=lambda r: (r.created, r.id))
    position = claim_order(runs, scenario)
    outcomes = [_outcome(run, position.get(run.id), released_at) for run in runs]
    terminal = all(StateType(o.end_state) in TERMINAL for o in outcomes)
    return Summary(
        outcomes=outcomes,
        queues=[_queue_use(spec, outcomes, now) for spec in scenario.queues],
        pool_limit=scenario.pool_limit,
        pool_max_in_use=_max_overlap(_held(outcomes, now)),
        seconds=(now - released_at).total_seconds(),
        finished=terminal and len(outcomes) == scenario.runs,
        end_states=dict(Counter(o.end_state for o in outcomes)),
    )
