"""The cloud's ``DispatchTrigger``: one SQS message asks a pool's dispatch
function for a pass (design §3, "Who claims").

A message names a pool and what to do with it: ``dispatch`` (admit and
submit; also stops the infrastructure of CANCELLING runs), ``poll`` (ask the
provider about submitted runs; the tick sends these, see docs/decisions.md
"Polling of event-less providers happens in their dispatch function") or
``stop`` (stop infrastructure the reaper gave up on).  Each goes to the queue
of the pool's provider family, so a message for a Cloud Run pool never wakes
the ECS function, which could not import Google's SDK anyway.

A message for later (``not_before`` within SQS's 15 minutes) is delayed to
the second; one further out is not sent, the tick sends it when it is near.
Messages are hints, not commands: the receiving pass re-reads the store, so
a duplicate, late or out-of-order message is a harmless no-op, and a message
that failed to send is made good by the next tick.  Sending is therefore
best-effort and logged, never an error for the API request or the event
that caused it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import PushpoolError
from core.ports import Clock, PoolMode, PoolTypes
from core.services.admission import DEFAULT_WINDOW
from handlers.aws.families import ENABLE_FLAGS, Family, family_of

log = logging.getLogger("pushpool.sqs")

MAX_DELAY_SECONDS = 900  # SQS's limit for DelaySeconds
BATCH = 10  # SendMessageBatch's limit
POOL_TYPE_TTL = 300.0  # seconds a pool's type is remembered for routing


class MessageKind(StrEnum):
    DISPATCH = "dispatch"
    POLL = "poll"
    STOP = "stop"


class DispatchMessage(BaseModel):
    """The body of a dispatch-queue message."""

    model_config = ConfigDict(frozen=True)

    pool: str
    kind: MessageKind = MessageKind.DISPATCH
    infra_id: str | None = None  # for STOP
    not_before: datetime | None = None  # when the sender wanted it; for logs and metrics
    # DISPATCH: also look after the pool's active runs (stop cancelled ones'
    # infrastructure, resume stalled claims), which reads all of them.
    look_after: bool = False

    @property
    def key(self) -> tuple[str, str, str, bool]:
        """Messages with the same key ask for the same thing."""
        return (self.kind.value, self.pool, self.infra_id or "", self.look_after)

    def body(self) -> str:
        unset = {"look_after"} if not self.look_after else set()
        return self.model_dump_json(exclude_none=True, exclude=unset)


def default_client() -> Any:
    import boto3  # noqa: PLC0415 - imported on first send, not at cold start

    return boto3.client("sqs")


def delay_seconds(not_before: datetime | None, *, now: datetime) -> int | None:
    """Whole seconds to delay a message for ``not_before``; None when it is
    beyond SQS's 15 minutes (the tick will send it later).

    The message is due when its runs enter the dispatcher's admission window
    (``DEFAULT_WINDOW``: a pass releases runs due within the next second), so
    it arrives at most a second early and never late.  Rounding the delay to
    ``not_before`` itself up delivered every message of a tick late by the
    tick's fraction of a second, and with the pass on top, p99 due → RunTask
    was over a second (issue 16).
    """
    if not_before is None:
        return 0
    seconds = math.ceil((not_before - DEFAULT_WINDOW - now).total_seconds())
    if seconds > MAX_DELAY_SECONDS:
        return None
    return max(seconds, 0)


class SqsDispatchTrigger:
    """Sends dispatch, poll and stop messages to each pool's family queue."""

    def __init__(
        self,
        queues: Mapping[Family, str],
        *,
        pool_type_of: Callable[[str], str | None],
        types: PoolTypes,
        clock: Clock,
        client_factory: Callable[[], Any] = default_client,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queues = dict(queues)
        self._pool_type_of = pool_type_of
        self._types = types
        self._clock = clock
        self._client_factory = client_factory
        self._client: Any = None
        self._monotonic = monotonic
        self._known: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    # -- DispatchTrigger -----------------------------------------------------------
    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        message = DispatchMessage(pool=pool_name, not_before=not_before, look_after=look_after)
        self.send([message])

    # -- what the tick asks of dispatch functions ---------------------------------------
    def request_poll(self, pool_name: str) -> None:
        self.send([DispatchMessage(pool=pool_name, kind=MessageKind.POLL)])

    def request_stop(self, pool_name: str, infra_id: str) -> None:
        self.send([DispatchMessage(pool=pool_name, kind=MessageKind.STOP, infra_id=infra_id)])

    def send(self, messages: Iterable[DispatchMessage]) -> int:
        """Send each message to its pool's queue (batched); returns how many
        were accepted.  Messages for pull pools, unknown pools, switched-off
        families or beyond 15 minutes are dropped."""
        now = self._clock()
        by_queue: dict[str, list[tuple[DispatchMessage, int]]] = {}
        for message in messages:
            delay = delay_seconds(message.not_before, now=now)
            queue = self.queue_for(message.pool)
            if delay is not None and queue is not None:
                by_queue.setdefault(queue, []).append((message, delay))
        return sum(self._send_batches(queue, items) for queue, items in by_queue.items())

    # -- routing -------------------------------------------------------------------------
    def queue_for(self, pool_name: str) -> str | None:
        """The queue of the pool's family, or None if nothing should be sent."""
        pool_type = self._pool_type(pool_name)
        if pool_type is None:
            return None
        try:
            if self._types.mode(pool_type) is PoolMode.PULL:
                return None  # workers poll for themselves
        except PushpoolError:
            return None
        family = family_of(pool_type)
        queue = self.queues.get(family) if family is not None else None
        if queue is None:
            flag = ENABLE_FLAGS.get(family) if family is not None else None
            hint = f"; deploy with {flag}" if flag else ""
            log.warning(
                "no dispatch queue for work pool %r of type %s%s", pool_name, pool_type, hint
            )
        return queue

    def _pool_type(self, pool_name: str) -> str | None:
        """A pool's type, remembered for a few minutes (types never change;
        the TTL only bounds how long a deleted name keeps its old type)."""
        now = self._monotonic()
        with self._lock:
            known = self._known.get(pool_name)
        if known is not None and now - known[1] < POOL_TYPE_TTL:
            return known[0]
        pool_type = self._pool_type_of(pool_name)
        with self._lock:
            self._known[pool_name] = (pool_type, now)
        return pool_type

    # -- SQS -------------------------------------------------------------------------------
    def retry_later(self, queue_url: str, receipt_handle: str, seconds: int) -> None:
        """Keep a failed message hidden ``seconds`` (back-off before redelivery)."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            self._sqs().change_message_visibility(
                QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
            )
        except (ClientError, BotoCoreError) as exc:
            log.warning("could not delay the retry of a dispatch message: %s", exc)

    def _send_batches(self, queue: str, items: list[tuple[DispatchMessage, int]]) -> int:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        sent = 0
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            entries = [
                {"Id": str(i), "MessageBody": message.body(), "DelaySeconds": delay}
                for i, (message, delay) in enumerate(chunk)
            ]
            try:
                answer = self._sqs().send_message_batch(QueueUrl=queue, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                log.warning("dispatch messages not sent to %s: %s", queue, exc)
                continue
            for failed in answer.get("Failed") or []:
                log.warning("dispatch message not sent to %s: %s", queue, json.dumps(failed))
            sent += len(answer.get("Successful") or [])
        return sent

    def _sqs(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
            return self._client
