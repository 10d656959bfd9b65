"""The tick function: EventBridge Scheduler invokes it every minute.

It runs the cloud profile's tick (``handlers.profiles``; schedules, Late,
reaper, counter repair, dispatch timing) and turns the report into
messages: a dispatch message per pool with due work (delayed to the second
for runs due before the next tick), one for every pool where the reaper
freed a slot, and — as this function carries no cloud SDK and may not call
ECS, its tick is the ``DelegatingTicker`` — a poll message per push pool with
submitted runs and a stop message per infrastructure the reaper gave up on,
each to the pool's family queue.

Outside the cloud (no dispatch queues configured) the tick is the
``Ticker``, which polls and stops through the providers itself, like the
local server's tick loop.

The event is ignored: the clock, not the schedule's payload, says what is
due, so a late or repeated invocation does the right thing.
"""

from __future__ import annotations

import logging
from typing import Any

from core.services.tick import TickReport
from handlers.aws import logs
from handlers.aws.observability import metrics, record_tick, traced_handler
from handlers.aws.sqs import DispatchMessage, MessageKind, SqsDispatchTrigger
from handlers.bootstrap import Container, bootstrap
from handlers.profiles import Profile

log = logging.getLogger("pushpool.tick")


@traced_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (EventBridge Scheduler, every minute)."""
    logs.configure()
    metrics.set_default_dimensions(function="tick")
    container = bootstrap()
    report = container.services(Profile.CLOUD).ticker.tick()
    sent = _send(container, container.dispatch_queues, report)
    summary = _summary(report, sent)
    record_tick()
    log.info("tick %s", summary)
    for error in report.errors:
        log.warning("tick: %s", error)
    for repair in report.reap.repairs:
        log.warning(
            "counter repaired: pool %s queue %s was %d, now %d",
            repair.pool_id,
            repair.queue_id or "-",
            repair.was,
            repair.now,
        )
    return summary


def messages(report: TickReport) -> list[DispatchMessage]:
    """Every message the report calls for, duplicates removed."""
    wanted = [
        DispatchMessage(pool=r.pool_name, not_before=r.not_before, look_after=r.look_after)
        for r in report.dispatch
    ]
    released = set(report.reap.released_pools)
    for poll in report.polls:
        released |= poll.released_pools
    wanted += [DispatchMessage(pool=name) for name in sorted(released)]
    wanted += [DispatchMessage(pool=name, kind=MessageKind.POLL) for name in report.polls_wanted]
    wanted += [
        DispatchMessage(pool=s.pool_name, kind=MessageKind.STOP, infra_id=s.infra_id)
        for s in report.stops_wanted
    ]
    return list(dict.fromkeys(wanted))


def _send(container: Container, queues: SqsDispatchTrigger | None, report: TickReport) -> int:
    wanted = messages(report)
    if queues is not None:
        return queues.send(wanted)
    for message in wanted:  # no queues: the container's own trigger, dispatch only
        if message.kind is MessageKind.DISPATCH:
            container.trigger.request_dispatch(
                message.pool, not_before=message.not_before, look_after=message.look_after
            )
    return len(wanted)


def _summary(report: TickReport, sent: int) -> dict[str, Any]:
    return {
        "created": len(report.created),
        "late": report.late,
        "reaped": len(report.reap.reaped),
        "repairs": len(report.reap.repairs),
        "polled": sum(p.checked for p in report.polls),
        "dispatch_requests": len(report.dispatch),
        "polls_wanted": len(report.polls_wanted),
        "stops_wanted": len(report.stops_wanted),
        "messages_sent": sent,
        "errors": len(report.errors),
    }
