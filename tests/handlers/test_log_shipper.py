"""The worker's log shipper: bounded batches, nothing lost in a short outage,
a counted gap after a long one, one warning per refused run."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx

from core.logs import MAX_BATCH_LINES
from core.ports import LogChunk
from handlers.worker.ledger import Execution, Ledger
from handlers.worker.logs import LogShipper, ShipperSettings
from providers.shared import OutputRing
from pushpool.client import Client
from tests.clock import FakeMonotonic

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class RingProvider:
    """A provider whose infrastructure output is an ``OutputRing`` per infra id."""

    supports_logs = True

    def __init__(self, limit: int = 10_000) -> None:
        self.rings: dict[str, OutputRing] = {}
        self.limit = limit

    def print(self, infra_id: str, *messages: str) -> None:
        ring = self.rings.setdefault(infra_id, OutputRing(self.limit))
        for i, message in enumerate(messages):
            ring.add(T0 + timedelta(microseconds=i), message)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        ring = self.rings.get(infra_id)
        return ring.read(after) if ring else LogChunk(cursor=after)


class Api:
    """The API's side of ``POST /logs/``: up, down, or refusing some runs."""

    def __init__(self) -> None:
        self.down = False
        self.refuse: set[str] = set()
        self.batches: list[list[dict]] = []
        self.attempts = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        if self.down:
            raise httpx.ConnectError("connection refused")
        batch = json.loads(request.content)
        if {line["flow_run_id"] for line in batch} & self.refuse:
            return httpx.Response(404, json={"detail": "flow run not found"})
        self.batches.append(batch)
        return httpx.Response(201)

    def messages(self, run_id: str) -> list[str]:
        return [x["message"] for b in self.batches for x in b if x["flow_run_id"] == run_id]


def shipper(api: Api, provider: RingProvider, ledger: Ledger, clock: FakeMonotonic, **settings):
    client = Client("http://api.test/api", transport=httpx.MockTransport(api.handle))
    return LogShipper(
        client,
        provider=lambda: provider,
        ledger=ledger,
        clock=lambda: T0,
        settings=ShipperSettings(**{"interval_seconds": 1.0, **settings}),
        monotonic=clock,
    )


def started(ledger: Ledger, run_id: str, infra_id: str) -> Execution:
    execution = Execution(
        run_id=run_id, attempt=1, run_name=run_id, scheduled_time=None, infra_id=infra_id
    )
    ledger.add(execution)
    return execution


def test_output_is_shipped_in_bounded_batches_a_run_at_a_time():
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    started(ledger, "b", "ib")
    provider.print("ia", *(f"a{i}" for i in range(25)))
    provider.print("ib", "b0", "y" * 3000)
    ship = shipper(api, provider, ledger, clock, batch_lines=10, batch_bytes=2000)

    ship.tick()

    assert api.messages("a") == [f"a{i}" for i in range(25)]
    assert api.messages("b") == ["b0", "y" * 3000]
    assert all(len({x["flow_run_id"] for x in b}) == 1 for b in api.batches)
    assert max(len(b) for b in api.batches) == 10
    assert [len(b) for b in api.batches if b[0]["flow_run_id"] == "b"] == [1, 1]  # by bytes
    assert ship.buffered == 0


def test_a_short_outage_loses_nothing_and_logs_one_warning(caplog):
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    ship = shipper(api, provider, ledger, clock)
    api.down = True
    with caplog.at_level(logging.WARNING, logger="pushpool.worker.logs"):
        for second in range(6):
            provider.print("ia", f"line {second}")
            clock.set(second * 10.0)
            ship.tick()
    assert ship.buffered == 6 and api.batches == []
    assert len(caplog.records) == 1 and "retrying" in caplog.records[0].getMessage()

    api.down = False
    clock.set(1000.0)
    ship.tick()
    assert api.messages("a") == [f"line {i}" for i in range(6)]
    seqs = [x["seq"] for b in api.batches for x in b]
    assert seqs == sorted(set(seqs))  # each line numbered once: a retry resends the same line


def test_while_down_it_backs_off_instead_of_hammering_the_api():
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    provider.print("ia", "x")
    ship = shipper(api, provider, ledger, clock)
    api.down = True
    for tick in range(100):  # 10 s of ticks, 0.1 s apart
        clock.set(tick / 10)
        ship.tick()
    assert api.attempts == 3  # at 0 s, then after 2 s and 4 s more (doubling back-off)


def test_a_long_outage_keeps_the_newest_lines_and_says_how_many_were_dropped():
    api, provider, ledger, clock = Api(), RingProvider(limit=50), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    ship = shipper(api, provider, ledger, clock, max_buffered=30)
    api.down = True
    provider.print("ia", *(f"early {i}" for i in range(20)))
    ship.tick()  # 20 lines buffered
    provider.print("ia", *(f"late {i}" for i in range(100)))  # the ring keeps the last 50
    ship.tick()  # 10 more fit the buffer; the rest waits in the ring
    assert ship.buffered == 30

    api.down = False
    for _ in range(5):
        clock.advance(100)
        ship.tick()
    got = api.messages("a")
    assert got[:20] == [f"early {i}" for i in range(20)]
    assert got[20] == "late 0" or got[20].startswith("[pushpool]")
    notes = [m for m in got if m.startswith("[pushpool]")]
    assert len(notes) == 1 and " 50 line(s)" in notes[0]
    assert got[-50:] == [f"late {i}" for i in range(50, 100)]
    assert len(got) == 20 + 1 + 50


def test_lines_printed_before_the_exit_are_shipped_after_the_run_left_the_ledger():
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    execution = started(ledger, "a", "ia")
    ship = shipper(api, provider, ledger, clock)
    provider.print("ia", "first")
    ship.tick()
    provider.print("ia", "last words")
    ledger.release(execution)
    ship.tick()
    ship.tick()
    assert api.messages("a") == ["first", "last words"]


def test_a_run_the_api_refuses_is_dropped_with_one_warning_and_others_still_ship(caplog):
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    started(ledger, "gone", "ig")
    started(ledger, "ok", "io")
    api.refuse.add("gone")
    ship = shipper(api, provider, ledger, clock, batch_lines=2)
    with caplog.at_level(logging.WARNING, logger="pushpool.worker.logs"):
        for i in range(3):
            provider.print("ig", *(f"g{i}{j}" for j in range(5)))
            provider.print("io", f"o{i}")
            ship.tick()
    assert api.messages("ok") == ["o0", "o1", "o2"]
    assert [r.getMessage() for r in caplog.records if "gone" in r.getMessage()] == [
        "the API refused the log lines of run gone: flow run not found"
    ]
    assert ship.buffered == 0


def test_batches_never_exceed_what_the_api_accepts():
    api, provider, ledger, clock = Api(), RingProvider(), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    provider.print("ia", *(str(i) for i in range(MAX_BATCH_LINES * 2 + 1)))
    ship = shipper(api, provider, ledger, clock, batch_lines=10**6, batch_bytes=10**9)
    ship.tick()
    assert max(len(b) for b in api.batches) == MAX_BATCH_LINES
    assert len(api.messages("a")) == MAX_BATCH_LINES * 2 + 1


class FailingProvider(RingProvider):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error
        self.reads = 0

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        self.reads += 1
        raise self.error


def test_a_source_that_cannot_be_read_is_one_warning_not_a_traceback_per_pass(caplog):
    from core.errors import InfrastructureError

    api, ledger, clock = Api(), Ledger(None), FakeMonotonic()
    started(ledger, "a", "ia")
    denied = FailingProvider(
        InfrastructureError("AccessDenied: logs:GetLogEvents", retryable=False)
    )
    ship = shipper(api, denied, ledger, clock)
    with caplog.at_level(logging.WARNING, logger="pushpool.worker.logs"):
        for _ in range(5):
            ship.tick()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot read the output of run a: AccessDenied: logs:GetLogEvents"
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert denied.reads == 1  # a terminal error stops reading that run

    throttled = FailingProvider(InfrastructureError("Throttling", retryable=True))
    ship = shipper(api, throttled, ledger, clock)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pushpool.worker.logs"):
        for _ in range(5):
            ship.tick()
    assert len(caplog.records) == 1 and throttled.reads == 5  # retried, warned once
