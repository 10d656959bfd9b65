"""Run log lines: the ``LogStore`` contract, on every store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.logs import MAX_MESSAGE_CHARS, cursor_at, new_line, parse_stamp, stamp, truncate
from core.ports import LogStore
from tests.contract.builders import NOW, new_id


def lines(run_id: str, count: int, *, start: datetime = NOW, prefix: str = "line"):
    return [
        new_line(
            flow_run_id=run_id,
            timestamp=start + timedelta(milliseconds=i),
            message=f"{prefix} {i}",
            seq=i,
        )
        for i in range(count)
    ]


def test_every_store_is_a_log_store(store):
    assert isinstance(store, LogStore)


def test_lines_read_back_in_time_order_whatever_order_they_were_written(store):
    run = new_id()
    written = lines(run, 30)
    store.append_logs(list(reversed(written[:10])))
    store.append_logs(written[10:])

    assert store.read_logs(run, limit=100) == written
    assert store.read_logs(new_id(), limit=100) == []


def test_a_cursor_continues_after_the_last_line_read_with_nothing_skipped_or_repeated(store):
    run = new_id()
    written = lines(run, 25)
    store.append_logs(written)

    seen, cursor = [], None
    while page := store.read_logs(run, after=cursor, limit=7):
        seen.extend(page)
        cursor = page[-1].key
    assert seen == written


def test_a_time_cursor_reads_lines_stamped_at_or_after_that_time(store):
    run = new_id()
    written = lines(run, 10)
    store.append_logs(written)

    assert store.read_logs(run, after=cursor_at(written[4].timestamp), limit=100) == written[4:]


def test_newest_first_gives_the_tail(store):
    run = new_id()
    written = lines(run, 20)
    store.append_logs(written)

    assert store.read_logs(run, limit=3, newest_first=True) == written[:-4:-1]


def test_writing_a_batch_twice_stores_each_line_once(store):
    run = new_id()
    written = lines(run, 40)
    store.append_logs(written)
    store.append_logs(written)
    store.append_logs(written[:5] + written[:5])  # duplicates inside one batch too

    assert store.read_logs(run, limit=1000) == written


def test_identical_lines_in_the_same_microsecond_are_kept_apart_by_their_sequence(store):
    run = new_id()
    same = [new_line(flow_run_id=run, timestamp=NOW, message="tick", seq=i) for i in range(3)]
    store.append_logs(same)

    assert len(store.read_logs(run, limit=10)) == 3


def test_runs_do_not_see_each_others_lines(store):
    a, b = new_id(), new_id()
    store.append_logs(lines(a, 3, prefix="a") + lines(b, 2, prefix="b"))

    assert [line.message for line in store.read_logs(a, limit=10)] == ["a 0", "a 1", "a 2"]
    assert [line.message for line in store.read_logs(b, limit=10)] == ["b 0", "b 1"]


def test_extreme_dates_unicode_and_the_longest_message_round_trip(store):
    run = new_id()
    odd = [
        new_line(flow_run_id=run, timestamp=datetime(1, 1, 1, tzinfo=UTC), message="first"),
        new_line(flow_run_id=run, timestamp=NOW, message="snowman ☃ \x00 and tab\t", level=40),
        new_line(flow_run_id=run, timestamp=NOW, message="x" * MAX_MESSAGE_CHARS, seq=1),
        new_line(flow_run_id=run, timestamp=NOW, message="", seq=2),
        new_line(
            flow_run_id=run,
            timestamp=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            message="last",
        ),
    ]
    store.append_logs(odd)

    read = store.read_logs(run, limit=10)
    assert sorted(read, key=lambda line: line.key) == sorted(odd, key=lambda line: line.key)
    assert read[0].message == "first" and read[-1].message == "last"


def test_stamps_are_fixed_width_and_round_trip_for_every_year():
    for year in (1, 999, 2026, 9999):
        moment = datetime(year, 2, 3, 4, 5, 6, 7, tzinfo=UTC)
        assert len(stamp(moment)) == 27
        assert parse_stamp(stamp(moment)) == moment


def test_truncated_messages_fit_and_say_how_much_was_cut():
    long = "y" * (MAX_MESSAGE_CHARS * 3)
    cut = truncate(long)
    assert len(cut) <= MAX_MESSAGE_CHARS
    kept = cut.index(" …")
    assert cut.endswith(f"[{len(long) - kept} characters cut]")
    assert truncate("short") == "short"


def test_sqlite_keeps_the_newest_lines_of_a_run_and_a_total_cap(tmp_path):
    from core.store.sqlite.store import SqliteStore

    store = SqliteStore(tmp_path / "capped.db", log_lines_per_run=5, log_lines_total=12)
    try:
        a, b, c = new_id(), new_id(), new_id()
        written = lines(a, 8)
        store.append_logs(written[:4])
        store.append_logs(written[4:])
        assert store.read_logs(a, limit=100) == written[3:]  # the oldest three went

        store.append_logs(lines(b, 5))
        store.append_logs(lines(c, 5))  # 15 lines now: the 3 written first go
        assert len(store.read_logs(a, limit=100)) == 2
        assert len(store.read_logs(b, limit=100)) == 5
    finally:
        store.close()


@pytest.mark.parametrize("days", [1, 30])
def test_dynamodb_lines_expire_their_retention_after_they_were_written(days, monkeypatch):
    from tests.contract import backends

    backends.use_moto_environment(monkeypatch, endpoint=None)
    with backends.mock_aws():
        table = backends.create_dynamodb_table().removeprefix("dynamodb://")
        from core.store.dynamodb.store import DynamoStore

        store = DynamoStore(table, clock=lambda: NOW, retention=timedelta(days=days))
        run = new_id()
        store.append_logs(lines(run, 2))
        items = store._table.client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"L#{run}"}},
        )["Items"]
    assert [int(item["expires"]["N"]) for item in items] == [
        int((NOW + timedelta(days=days)).timestamp())
    ] * 2


def test_lines_stamped_in_the_same_microsecond_read_back_in_sequence_order(store):
    run = new_id()
    burst = [
        new_line(flow_run_id=run, timestamp=NOW, message=f"burst {i}", seq=i) for i in range(12)
    ]
    store.append_logs(list(reversed(burst)))

    assert [line.message for line in store.read_logs(run, limit=20)] == [
        f"burst {i}" for i in range(12)
    ]


def test_the_same_batch_posted_concurrently_is_stored_once(store):
    from concurrent.futures import ThreadPoolExecutor

    run = new_id()
    batch = lines(run, 60)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(store.append_logs, batch) for _ in range(4)]:
            future.result()

    assert store.read_logs(run, limit=1000) == batch
