"""The dispatch functions: SQS batches from a provider family's dispatch queue.

Each message names a pool (``handlers.aws.sqs.DispatchMessage``) and is
handled by a use case of the cloud profile (``handlers.profiles``):

* ``dispatch``: ``Dispatcher.dispatch`` — plan the waterfall, claim,
  render, submit, record; and, when the message asks to look after the
  pool's active runs (the API after a cancel, the tick for stalled claims
  and cancellations) or is a redelivery, first stop the infrastructure of
  CANCELLING runs and resume stalled claims.  That part reads every active
  run of the pool, so the many messages that only announce due work or a
  freed slot skip it.  A pass that wants another (claim cap reached, runs
  crashed and slots freed) sends a new message for the pool.
* ``poll``: the lifecycle's observe request (``Lifecycle.observe``):
  stop the infrastructure of CANCELLING runs, ask the provider about the
  pool's submitted runs (for providers with events, only runs quiet for a
  while) and apply what it says.
* ``stop``: stop infrastructure the reaper gave up on.

Passes of one pool run in the pool's turn (``core.services.pool_turns``): a
message that finds another function passing over the pool marks the turn
and returns, and the holder passes again before it lets go, so one function
claims for a pool at a time and no request is lost.

Messages are hints: every pass re-reads the store, so duplicate, stale and
out-of-order messages are harmless (duplicates within one batch are handled
once).  A pass that hits a retryable error (``DispatchIncomplete``, a
throttled store) is reported as a batch item failure, so SQS redelivers that
message alone; its visibility is first shortened to a back-off (30 s,
doubling to 4 min) so the retry comes while the claim's 5-minute lease still
runs and resumes it with the same idempotency key.  On the delivery the
redrive policy makes the last, runs that still fail are crashed with the
reason instead of being left claimed.

A message for a pool of another family (a pool deleted and re-created with
another type since the sender looked its type up) is dropped rather than
failing its runs for want of an SDK; the next tick sends a fresh message to
the right queue.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from core.errors import NotFound, PushpoolError
from core.models import WorkPool
from core.ports import PoolMode
from core.services.dispatch import DispatchIncomplete, DispatchReport
from handlers.aws import logs
from handlers.aws.families import family_of
from handlers.aws.observability import metrics, record_dispatch, traced_handler
from handlers.aws.sqs import DispatchMessage, MessageKind
from handlers.bootstrap import Container, bootstrap
from handlers.observability import log_context
from handlers.profiles import Profile

log = logging.getLogger("pushpool.dispatch")

RETRY_BASE_SECONDS = 30  # the cloud profile's dispatcher resumes claims older than this
RETRY_MAX_SECONDS = 240  # the third retry still comes within the 5-minute lease

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@traced_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """AWS Lambda entry point (SQS event source, ReportBatchItemFailures)."""
    logs.configure()
    metrics.set_default_dimensions(function="dispatch")
    batch = Batch(bootstrap())
    return process_partial_response(
        event=event, record_handler=batch.handle, processor=processor, context=context
    )


def retry_delay(receive_count: int) -> int:
    """Seconds before the next delivery of a message that failed ``receive_count`` times."""
    doublings = min(max(receive_count - 1, 0), 8)  # 30 s << 8 is past the cap already
    return min(RETRY_BASE_SECONDS << doublings, RETRY_MAX_SECONDS)


class Batch:
    """One invocation's messages; handles each distinct request once."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.services = container.services(Profile.CLOUD)
        self.seen: set[tuple[str, str, str, bool]] = set()

    def handle(self, record: SQSRecord) -> str:
        try:
            message = DispatchMessage.model_validate_json(record.body)
        except ValidationError as exc:
            log.error("dropping a malformed dispatch message %s: %s", record.message_id, exc)
            return "malformed"
        if message.key in self.seen:
            return "duplicate in this batch"
        self.seen.add(message.key)
        # One read of the pool serves the routing check and the pass: a
        # second read was a tenth of a created-now run's latency (issue 16).
        try:
            pool = self.container.store.get_pool(message.pool)
        except NotFound:
            pool = None
        if pool is not None and self._misrouted(message, pool, record):
            return "misrouted: left to the tick"
        with log_context(pool=message.pool):
            return self._handle(message, pool, record)

    def _handle(self, message: DispatchMessage, pool: WorkPool | None, record: SQSRecord) -> str:
        try:
            if message.kind is MessageKind.POLL:
                return self.poll(pool)
            if message.kind is MessageKind.STOP:
                return self.stop(message, pool)
            return self.dispatch(message, pool, record)
        except PushpoolError as exc:
            if exc.retryable:
                self._back_off(record)
            raise

    def dispatch(self, message: DispatchMessage, pool: WorkPool | None, record: SQSRecord) -> str:
        receive_count = int(record.attributes.approximate_receive_count or 1)
        final = receive_count >= self.container.settings.aws.max_receive_count
        # A redelivery retries a pass that left claims stalled: resume them.
        resume = message.look_after or receive_count > 1
        try:
            report = self.services.dispatcher.dispatch(
                message.pool, resume=resume, final_attempt=final, pool=pool
            )
        except DispatchIncomplete as exc:
            record_dispatch(exc.report, now=self.container.clock())
            log.warning("%s (delivery %d; retrying)", exc.detail, receive_count)
            raise
        record_dispatch(report, now=self.container.clock())
        for crashed in report.crashed:
            log.warning(
                "flow run %s crashed: %s",
                crashed.run_id,
                crashed.message,
                extra={"run_id": crashed.run_id, "attempt": crashed.attempt},
            )
        if report.wants_another_pass:
            self.container.trigger.request_dispatch(message.pool)
        summary = describe(report)
        log.info("dispatch %s: %s", message.pool, summary)
        return summary

    def poll(self, pool: WorkPool | None) -> str:
        if pool is None:
            return "work pool no longer exists"
        if self.container.types.mode(pool.type) is PoolMode.PULL:
            return f"{pool.type} pools are watched by their workers"
        observation = self.services.lifecycle.observe(pool)
        errors = [f"{o.run_id}: {o.error}" for o in observation.stopped if o.error]
        errors += observation.poll.errors if observation.poll else ()
        for error in errors:
            log.warning("poll %s: %s", pool.name, error)
        if observation.released_slot:
            self.container.trigger.request_dispatch(pool.name)
        if observation.poll is None:
            return "the provider cannot be polled"
        report = observation.poll
        return f"checked {report.checked}, changed {len(report.changed)}"

    def stop(self, message: DispatchMessage, pool: WorkPool | None) -> str:
        if not message.infra_id:
            return "nothing to stop"
        if pool is None:
            log.warning("cannot stop %s: work pool %s is gone", message.infra_id, message.pool)
            return "work pool no longer exists"
        # A retryable failure is raised: the message is redelivered with back-off.
        failure = self.services.lifecycle.stop_abandoned(pool, message.infra_id)
        if failure:
            log.warning("%s", failure)
            return failure
        return f"stopped {message.infra_id}"

    def _misrouted(self, message: DispatchMessage, pool: WorkPool, record: SQSRecord) -> bool:
        """The message names a pool this function's family does not serve."""
        own = self.container.settings.aws.family_of_queue(record.event_source_arn or "")
        if self.container.dispatch_queues is None or own is None:
            return False
        family = family_of(pool.type)
        if family is None or family is own:
            return False
        log.warning(
            "dropping a %s message for %s (a %s pool) from the %s queue",
            message.kind,
            message.pool,
            family,
            own,
        )
        return True

    def _back_off(self, record: SQSRecord) -> None:
        queues = self.container.dispatch_queues
        settings = self.container.settings.aws
        own = settings.family_of_queue(record.event_source_arn or "")
        if queues is None or own is None:
            return
        receive_count = int(record.attributes.approximate_receive_count or 1)
        if receive_count >= settings.max_receive_count:
            return  # the dead-letter queue takes it
        queues.retry_later(settings.queues[own], record.receipt_handle, retry_delay(receive_count))


def describe(report: DispatchReport) -> str:
    parts = [f"submitted {len(report.submitted)}"]
    if report.resumed:
        parts.append(f"resumed {report.resumed}")
    if report.crashed:
        parts.append(f"crashed {len(report.crashed)}")
    if report.stopped:
        parts.append(f"stopped {len(report.stopped)}")
    if report.skipped:
        parts.append(f"skipped ({report.skipped})")
    return ", ".join(parts)
