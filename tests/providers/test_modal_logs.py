"""A Modal run's output: the provider's cursor over Modal's log ranges, on the seam fake,
and the SDK adapter's use of ``logs.fetch`` with the SDK's own ``LogEntry``."""

from __future__ import annotations

from datetime import datetime, timedelta

import modal
import pytest
from modal.types import LogEntry
from modal_proto import api_pb2

from core.errors import InfrastructureError
from core.ports import log_source
from providers.modal import ModalProvider
from providers.modal.logs import LOOKBACK, PAGE_LINES, SETTLE
from providers.modal.sdk_client import SdkModalClient, collect_output
from tests.clock import NOW, FakeClock
from tests.fakes.modal_client import FakeModal
from tests.fakes.modal_grpc import FakeControlPlane
from tests.providers.contract import run
from tests.providers.test_modal import FUNCTION, SANDBOX, modal_job


@pytest.fixture
def fake() -> FakeModal:
    modal_fake = FakeModal()
    modal_fake.deploy("flows", "run_flow")
    return modal_fake


@pytest.fixture
def provider(fake: FakeModal, clock: FakeClock) -> ModalProvider:
    return ModalProvider(fake, clock=clock)


def submitted(provider: ModalProvider, configuration: dict[str, object]) -> str:
    return run(provider, modal_job(configuration))


def messages(chunk) -> list[str]:
    return [line.message for line in chunk.lines]


@pytest.mark.parametrize("configuration", [FUNCTION, SANDBOX], ids=["call", "sandbox"])
def test_output_is_read_on_from_the_last_line_seen(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock, configuration: dict[str, object]
):
    infra_id = submitted(provider, configuration)
    source = log_source(provider)
    assert source is not None
    assert source.read_logs(infra_id).lines == ()

    fake.print(infra_id, "pulling data\nünïcode ☃\n", at=NOW)
    fake.print(infra_id, "warning: slow", at=NOW + timedelta(seconds=1), source="stderr")
    clock.set(NOW + timedelta(seconds=10))
    first = source.read_logs(infra_id)
    assert messages(first) == ["pulling data", "ünïcode ☃", "warning: slow"]
    assert first.lines[0].timestamp == NOW

    fake.print(infra_id, "done", at=NOW + timedelta(seconds=11))
    clock.set(NOW + timedelta(seconds=20))
    more = source.read_logs(infra_id, after=first.cursor)
    assert messages(more) == ["done"]
    assert source.read_logs(infra_id, after=more.cursor).lines == ()
    assert source.read_logs(infra_id, after=more.cursor).cursor == more.cursor


def test_lines_sharing_a_timestamp_are_neither_lost_nor_repeated_across_reads(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    infra_id = submitted(provider, FUNCTION)
    fake.print(infra_id, "a", at=NOW)
    fake.print(infra_id, "b", at=NOW)
    clock.set(NOW + timedelta(seconds=10))
    first = provider.read_logs(infra_id)
    fake.print(infra_id, "c", at=NOW)  # stored late, stamped like the last two
    fake.print(infra_id, "d", at=NOW + timedelta(seconds=1))
    second = provider.read_logs(infra_id, after=first.cursor)
    assert messages(first) == ["a", "b"]
    assert messages(second) == ["c", "d"]


def test_the_newest_seconds_wait_for_a_later_read(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    """A line Modal stores a moment late is not skipped by a cursor that moved past it."""
    infra_id = submitted(provider, FUNCTION)
    fake.print(infra_id, "just now", at=NOW)
    clock.set(NOW + SETTLE / 2)
    assert provider.read_logs(infra_id).lines == ()
    clock.set(NOW + SETTLE * 2)
    assert messages(provider.read_logs(infra_id)) == ["just now"]


def test_a_read_returns_at_most_a_page_and_the_next_one_continues(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    infra_id = submitted(provider, FUNCTION)
    for i in range(PAGE_LINES + 5):
        fake.print(infra_id, f"line {i}", at=NOW + timedelta(milliseconds=i))
    clock.set(NOW + timedelta(minutes=5))
    first = provider.read_logs(infra_id)
    second = provider.read_logs(infra_id, after=first.cursor)
    assert len(first.lines) == PAGE_LINES
    assert messages(second) == [f"line {i}" for i in range(PAGE_LINES, PAGE_LINES + 5)]


def test_the_first_read_looks_back_no_further_than_modal_allows(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    infra_id = submitted(provider, FUNCTION)
    fake.print(infra_id, "too old", at=NOW - LOOKBACK - timedelta(seconds=1))
    fake.print(infra_id, "kept", at=NOW - LOOKBACK + timedelta(seconds=1))
    assert messages(provider.read_logs(infra_id)) == ["kept"]


def test_a_cursor_read_again_weeks_later_asks_modal_for_at_most_its_longest_range(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    infra_id = submitted(provider, FUNCTION)
    fake.print(infra_id, "first", at=NOW)
    fake.print(infra_id, "much later", at=NOW + timedelta(days=40))
    clock.set(NOW + timedelta(seconds=10))
    first = provider.read_logs(infra_id)
    clock.set(NOW + timedelta(days=41))
    asked: list[timedelta] = []
    read = fake.read_output

    def measured(infra_id: str, *, since, until, limit):
        asked.append(until - since)
        return read(infra_id, since=since, until=until, limit=limit)

    fake.read_output = measured  # type: ignore[method-assign]
    second = provider.read_logs(infra_id, after=first.cursor)
    third = provider.read_logs(infra_id, after=second.cursor)
    assert messages(first) == ["first"] and messages(second) == []
    assert messages(third) == ["much later"]  # the empty month moved the cursor on
    assert max(asked) <= LOOKBACK


def test_an_unknown_call_has_no_more_output(fake: FakeModal, provider: ModalProvider):
    infra_id = submitted(provider, FUNCTION)
    fake.vanish(infra_id)
    cursor = f"{NOW.isoformat()}|1"
    chunk = provider.read_logs(infra_id, after=cursor)
    assert chunk.lines == () and chunk.cursor == cursor


def test_an_outage_is_retryable_and_a_refusal_is_not(
    fake: FakeModal, provider: ModalProvider, clock: FakeClock
):
    infra_id = submitted(provider, FUNCTION)
    fake.fail_requests(retryable=True, message="connection reset", only=frozenset({"read_output"}))
    with pytest.raises(InfrastructureError) as outage:
        provider.read_logs(infra_id)
    assert outage.value.retryable and "logs" in outage.value.detail
    fake.fail_requests(retryable=False, message="AuthError: bad token")
    with pytest.raises(InfrastructureError) as refused:
        provider.read_logs(infra_id)
    assert not refused.value.retryable and "bad token" in refused.value.detail


@pytest.mark.parametrize("cursor", ["garbage", "2026-12-04T12:00:00|x", "2026-12-04T12:00:00|1"])
def test_a_cursor_that_is_not_ours_is_a_terminal_error(provider: ModalProvider, cursor: str):
    with pytest.raises(InfrastructureError) as raised:
        provider.read_logs("fc-1", after=cursor)
    assert not raised.value.retryable


# -- the SDK adapter -----------------------------------------------------------------------------


class StubLogs:
    """Stands in for ``FunctionCall.logs``: ``fetch`` yields the SDK's own ``LogEntry``s."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.asked: dict[str, datetime] = {}
        self.closed = False

    def fetch(self, *, since: datetime, until: datetime):
        self.asked = {"since": since, "until": until}
        try:
            for i in range(self.count):
                yield LogEntry(
                    message=f"line {i}\n",
                    timestamp=since + timedelta(seconds=i),
                    source="stdout",
                    object_id="fc-1",
                    context_ids=["in-1", "ta-1"],
                )
        finally:
            self.closed = True


def test_the_adapter_takes_at_most_the_limit_and_stops_the_sdks_fetch():
    logs = StubLogs(count=10)
    entries = collect_output(logs, since=NOW, until=NOW + timedelta(hours=1), limit=3)
    assert [entry.message for entry in entries] == ["line 0\n", "line 1\n", "line 2\n"]
    assert entries[2].timestamp == NOW + timedelta(seconds=2) and entries[0].source == "stdout"
    assert logs.asked == {"since": NOW, "until": NOW + timedelta(hours=1)}
    assert logs.closed


def test_calls_and_sandboxes_still_have_a_logs_manager():
    """Its ``fetch`` keywords are pinned with the other SDK calls in test_modal_sdk.py."""
    assert isinstance(modal.FunctionCall.__dict__["logs"], property)
    assert isinstance(modal.Sandbox.__dict__["logs"], property)


# -- through the real SDK, against a fake control plane ----------------------------------------


@pytest.fixture
def control_plane() -> FakeControlPlane:
    return FakeControlPlane()


@pytest.fixture
def sdk_provider(control_plane: FakeControlPlane, clock: FakeClock) -> ModalProvider:
    adapter = SdkModalClient()
    adapter.__dict__["sdk_client"] = control_plane.client()  # the SDK, on the fake stub
    return ModalProvider(adapter, clock=clock)


SANDBOX_ID = "sb-AbCdEfGhIjKlMnOpQrStUv"  # the shape of a (v1) Modal sandbox id


CASES = {  # infra id, another one's, its app, the filter AppFetchLogs must carry
    "call": ("fc-1", "fc-other", "ap-flows", ("function_call_id", "fc-1")),
    "sandbox": (
        SANDBOX_ID,
        "sb-ZyXwVuTsRqPoNmLkJiHgFe",
        "ap-sandboxes",
        ("task_id", "ta-AbCdEfGhIjKlMnOpQrStUv"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_output_is_read_through_the_sdk_filtered_to_the_call_or_sandbox(
    control_plane: FakeControlPlane, sdk_provider: ModalProvider, clock: FakeClock, case: str
):
    infra_id, other, app_id, filtered_by = CASES[case]
    control_plane.print(infra_id, "pulling data\n", at=NOW)
    control_plane.print(infra_id, "warning: slow\n", at=NOW + timedelta(seconds=1), stderr=True)
    control_plane.print(other, "not this one\n", at=NOW)
    clock.set(NOW + timedelta(seconds=10))
    first = sdk_provider.read_logs(infra_id)
    assert messages(first) == ["pulling data", "warning: slow"]
    assert first.lines[1].timestamp == NOW + timedelta(seconds=1)
    fetches = [r for r in control_plane.requests if isinstance(r, api_pb2.AppFetchLogsRequest)]
    field, value = filtered_by
    assert fetches and {getattr(r, field) for r in fetches} == {value}
    assert {r.app_id for r in fetches} == {app_id}

    control_plane.print(infra_id, "done\n", at=NOW + timedelta(seconds=11))
    clock.set(NOW + timedelta(seconds=20))
    more = sdk_provider.read_logs(infra_id, after=first.cursor)
    assert messages(more) == ["done"]
    assert sdk_provider.read_logs(infra_id, after=more.cursor).lines == ()


@pytest.mark.parametrize(
    ("raised", "retryable"),
    [
        (modal.exception.ConnectionError("connection reset"), True),
        (modal.exception.ServiceError("unavailable"), True),
        (modal.exception.AuthError("Token ID is malformed"), False),
    ],
)
def test_the_sdks_errors_while_reading_logs_are_classified(
    control_plane: FakeControlPlane,
    sdk_provider: ModalProvider,
    raised: Exception,
    retryable: bool,
):
    control_plane.failure = raised
    with pytest.raises(InfrastructureError) as caught:
        sdk_provider.read_logs("fc-1")
    assert caught.value.retryable is retryable


def test_a_call_modal_does_not_know_has_no_more_output(
    control_plane: FakeControlPlane, sdk_provider: ModalProvider
):
    control_plane.failure = modal.exception.NotFoundError("Function call fc-9 not found")
    assert sdk_provider.read_logs("fc-9", after="2026-12-04T12:00:00+00:00|1").lines == ()
