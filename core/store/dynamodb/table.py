"""One DynamoDB table behind retries and error translation.

Everything the store sends goes through :class:`Table`, which
- creates the client lazily (never at import time) from boto3's standard
  settings, so ``AWS_ENDPOINT_URL_DYNAMODB`` points it at moto or DynamoDB
  Local;
- retries throttling and transaction conflicts with full-jitter exponential
  back-off (sleep and randomness are injected so tests never sleep), then
  raises ``Transient``;
- turns a cancelled transaction into the error of the first item whose
  condition failed, using that item's own interpreter (:class:`Op`).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from core.errors import CapacityFull, InvalidInput, Transient
from core.store.dynamodb.codec import Item, names

# Error codes that say "nothing happened, try again later".
THROTTLING = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# Server-side failures after which the write may or may not have happened.
AMBIGUOUS = frozenset({"InternalServerError", "ServiceUnavailable"})
# Cancellation reason codes that are worth retrying as they are.
RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ProvisionedThroughputExceeded", "ThrottlingError"}
)
# DynamoDB's size limits (400 KB an item, 2 KB a partition key, 1 KB a sort
# key): breaking one is the caller's input, not a bug (issue 9's fuzzing).
SIZE_LIMIT_MESSAGES = (
    "Item size has exceeded",
    "Item size to update has exceeded",
    "size limit of 1024 bytes",
    "size limit of2048 bytes",  # sic, moto
    "size limit of 2048 bytes",
    "must be under 2048 bytes",
    "must be under 1024 bytes",
)
KEY_LIMITS = {"pk": 2048, "sk": 1024}
NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)


@dataclass(frozen=True)
class Op:
    """One item of a transaction and what its failed condition means.

    ``on_fail`` receives the item as stored (``None`` if it does not exist)
    and returns the exception to raise.
    """

    request: dict[str, Any]
    on_fail: Callable[[Item | None], Exception]


@dataclass(frozen=True)
class Backoff:
    attempts: int = 8
    base: float = 0.025
    cap: float = 1.0

    def delay(self, attempt: int, rand: float) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt))."""
        return rand * min(self.cap, self.base * 2.0**attempt)


class Table:
    def __init__(
        self,
        name: str,
        *,
        client: Any = None,
        sleep: Callable[[float], None],
        random: Callable[[], float],
        backoff: Backoff,
    ) -> None:
        self.name = name
        self._client = client
        self._lock = threading.Lock()
        self._sleep = sleep
        self._random = random
        self._backoff = backoff

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = default_client()
        return self._client

    # -- plain requests -------------------------------------------------------

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Send one request, retrying throttling and network errors."""
        last: Exception | None = None
        for attempt in range(self._backoff.attempts):
            if attempt:
                self._sleep(self._backoff.delay(attempt - 1, self._random()))
            try:
                return cast(dict[str, Any], getattr(self.client, operation)(**params))
            except ClientError as exc:
                _raise_if_too_large(_code(exc), _message(exc), exc)
                if _code(exc) not in THROTTLING | AMBIGUOUS:
                    raise
                last = exc
            except NETWORK_ERRORS as exc:
                last = exc
        raise Transient(
            f"DynamoDB table {self.name!r} kept refusing {operation} "
            f"({_describe(last)}); retry later"
        ) from last

    def conditional(
        self, operation: str, on_fail: Callable[[Item | None], Exception], **params: Any
    ) -> dict[str, Any]:
        """A single-item write whose failed condition becomes ``on_fail(old item)``."""
        params = {
            "TableName": self.name,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            **params,
        }
        try:
            return self.call(operation, **params)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            raise on_fail(exc.response.get("Item")) from exc

    def get(self, key: dict[str, Any]) -> Item | None:
        if not _storable(key):
            return None  # no item can have an empty or oversized key
        response = self.call("get_item", TableName=self.name, Key=key, ConsistentRead=True)
        return cast(Item | None, response.get("Item"))

    def query(self, **params: Any) -> Iterator[Item]:
        """Every item a query matches, following pagination."""
        params = {"TableName": self.name, **params}
        while True:
            page = self.call("query", **params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def partition(
        self, pk: str, *, prefix: str | None = None, projection: str | None = None
    ) -> Iterator[Item]:
        """Every item of one partition, or those whose sort key starts with
        ``prefix``; read consistently (base-table partitions allow it)."""
        condition = "#pk = :pk" + (" AND begins_with(#sk, :prefix)" if prefix else "")
        values = {":pk": {"S": pk}} | ({":prefix": {"S": prefix}} if prefix else {})
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names(condition, projection),
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        if projection:
            params["ProjectionExpression"] = projection
        return self.query(**params)

    def batch_get(self, keys: Sequence[dict[str, Any]]) -> list[Item]:
        """Consistent reads of many items (100 per request), in no set order."""
        found: list[Item] = []
        for start in range(0, len(keys), 100):
            pending: dict[str, Any] = {
                self.name: {"Keys": list(keys[start : start + 100]), "ConsistentRead": True}
            }
            for attempt in range(self._backoff.attempts):
                if attempt:
                    self._sleep(self._backoff.delay(attempt - 1, self._random()))
                response = self.call("batch_get_item", RequestItems=pending)
                found.extend(response.get("Responses", {}).get(self.name, []))
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            else:
                raise Transient(f"DynamoDB left reads of {self.name!r} unprocessed; retry later")
        return found

    def batch_delete(self, keys: Sequence[dict[str, Any]]) -> None:
        """Delete many items (25 per request); used only for cascading clean-up."""
        self._batch_write([{"DeleteRequest": {"Key": k}} for k in keys], "deletes")

    def batch_put(self, items: Sequence[Item]) -> None:
        """Write many items unconditionally (25 per request): run log lines."""
        self._batch_write([{"PutRequest": {"Item": i}} for i in items], "writes")

    def _batch_write(self, requests: Sequence[dict[str, Any]], what: str) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.name: list(requests[start : start + 25])}
            for attempt in range(self._backoff.attempts):
                if attempt:
                    self._sleep(self._backoff.delay(attempt - 1, self._random()))
                response = self.call("batch_write_item", RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                raise Transient(f"DynamoDB left {what} in {self.name!r} unprocessed; retry later")

    # -- transactions ---------------------------------------------------------

    def transact(self, ops: Sequence[Op]) -> None:
        """Write ``ops`` atomically.

        A failed condition raises the error its ``Op`` maps it to; conflicts
        with other transactions and throttling are retried.  The client
        request token is kept only across retries of an ambiguous failure
        (network, 5xx), so a retried commit is not applied twice, and renewed
        after a definite refusal so the retry really runs again.
        """
        items = [
            {kind: {"TableName": self.name, **body}}
            for op in ops
            for kind, body in op.request.items()
        ]
        token = secrets.token_hex(16)
        last: Exception | None = None
        for attempt in range(self._backoff.attempts):
            if attempt:
                self._sleep(self._backoff.delay(attempt - 1, self._random()))
            try:
                self.client.transact_write_items(TransactItems=items, ClientRequestToken=token)
                return
            except NETWORK_ERRORS as exc:
                last = exc
                continue
            except ClientError as exc:
                code = _code(exc)
                _raise_if_too_large(code, _message(exc), exc)
                if code == "TransactionCanceledException":
                    _raise_condition_failure(exc, ops)
                elif code in AMBIGUOUS:
                    last = exc
                    continue
                elif code not in THROTTLING:
                    raise
                last = exc
            token = secrets.token_hex(16)
        raise Transient(
            f"DynamoDB table {self.name!r} kept cancelling a transaction "
            f"({_describe(last)}); retry later"
        ) from last


def _raise_condition_failure(exc: ClientError, ops: Sequence[Op]) -> None:
    """Raise the mapped error of the first failed condition; return if the
    cancellation is only contention (the caller retries); re-raise otherwise."""
    reasons = exc.response.get("CancellationReasons") or []
    failed = [(i, r) for i, r in enumerate(reasons) if r.get("Code") not in (None, "None")]
    for _, reason in failed:
        _raise_if_too_large("ValidationException", str(reason.get("Message", "")), exc)
    errors = [
        ops[index].on_fail(reason.get("Item"))
        for index, reason in failed
        if reason["Code"] == "ConditionalCheckFailed"
    ]
    if errors:
        raise min(errors, key=_precedence) from exc
    if failed and all(r["Code"] in RETRYABLE_REASONS for _, r in failed):
        return
    raise exc


def _precedence(error: Exception) -> int:
    """Which failed condition to report when several did (``min`` is stable).

    Anything about the run itself or a missing item comes first, then a
    pause, then a full limit: the same order the SQLite store checks in.
    """
    if not isinstance(error, CapacityFull):
        return 0
    return 1 if error.scope == "paused" else 2


def _raise_if_too_large(code: str, message: str, exc: ClientError) -> None:
    if code == "ValidationException" and any(m in message for m in SIZE_LIMIT_MESSAGES):
        raise InvalidInput(
            "too large to store: DynamoDB holds at most 400 KB per object and 1 KB per "
            f"name ({message}); make it smaller"
        ) from exc


def _storable(key: dict[str, Any]) -> bool:
    """Whether DynamoDB accepts ``key`` at all (it refuses empty and oversized keys)."""
    for name, value in key.items():
        text = value.get("S") if isinstance(value, dict) else None
        if text is None:
            continue
        if not text or len(text.encode("utf-8")) > KEY_LIMITS.get(name, 1024):
            return False
    return True


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _describe(exc: Exception | None) -> str:
    if isinstance(exc, ClientError):
        reasons = exc.response.get("CancellationReasons") or []
        codes = sorted({r.get("Code", "") for r in reasons} - {"None", ""})
        return _code(exc) + (f": {', '.join(codes)}" if codes else "")
    return type(exc).__name__ if exc else "no response"


def default_client() -> Any:
    """A client from boto3's standard configuration chain.

    botocore's own retries are switched off: :class:`Table` retries with
    its own (testable) back-off, and stacking both would multiply delays.
    """
    import boto3  # noqa: PLC0415 - keep boto3 off the import path of the domain
    from botocore.config import Config  # noqa: PLC0415

    session = boto3.session.Session()
    return session.client("dynamodb", config=Config(retries={"total_max_attempts": 1}))
