"""What only the SQLite store promises: its file format, URLs, locking and threads."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime

import pytest

from core.errors import InvalidInput, Transient
from core.store import open_store, sqlite_path
from core.store.sqlite.schema import SCHEMA_VERSION
from core.store.sqlite.store import SqliteStore
from tests.contract.builders import NOW, add_pool, add_run, claim, make_pool


def test_a_new_file_gets_the_schema_and_its_version_in_wal_mode(tmp_path):
    path = tmp_path / "new.db"
    store = SqliteStore(path)

    assert store.schema_version == SCHEMA_VERSION
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    store.close()


def test_reopening_a_file_keeps_its_data(tmp_path):
    first = SqliteStore(tmp_path / "s.db")
    pool, queue = add_pool(first, "kept")
    run = claim(first, add_run(first, pool, queue))
    first.close()

    second = SqliteStore(tmp_path / "s.db")

    assert second.get_pool("kept") == pool
    assert second.get_run(run.id) == run
    assert second.counters(pool.id).pool_active == 1
    second.close()


def test_a_file_from_a_newer_pushpool_is_refused(tmp_path):
    path = tmp_path / "future.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))

    with pytest.raises(InvalidInput, match="upgrade pushpool"):
        SqliteStore(path)


def test_a_write_waiting_past_the_busy_timeout_is_transient_and_changes_nothing(tmp_path):
    path = tmp_path / "busy.db"
    store = SqliteStore(path, timeout_seconds=0.05)
    pool, queue = make_pool("blocked")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Transient, match="busy") as raised:
            store.create_pool(pool, queue)
        assert raised.value.retryable
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.list_pools() == []
    store.create_pool(pool, queue)  # works once the lock is released
    store.close()


def test_reads_are_not_blocked_by_a_writer(tmp_path):
    path = tmp_path / "wal.db"
    store = SqliteStore(path, timeout_seconds=0.05)
    pool, _ = add_pool(store, "visible")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert store.get_pool("visible") == pool
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    store.close()


def test_an_in_memory_store_is_shared_by_the_threads_of_its_process():
    store = open_store("sqlite://")
    pool, queue = add_pool(store, limit=10)
    runs = [add_run(store, pool, queue) for _ in range(40)]
    errors: list[Exception] = []

    def claim_some(chunk):
        for run in chunk:
            try:
                claim(store, run)
            except Exception as exc:  # collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=claim_some, args=(runs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(errors) == 30
    assert store.counters(pool.id).pool_active == 10
    assert len(store.list_active(pool.id)) == 10


def test_timestamps_must_be_aware(tmp_path):
    store = SqliteStore(tmp_path / "tz.db")
    pool, _ = add_pool(store)

    with pytest.raises(InvalidInput, match="timezone"):
        store.list_due(pool.id, datetime(2026, 1, 1))
    assert store.list_due(pool.id, NOW) == []
    store.close()


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:///pushpool.db", "pushpool.db"),
        ("sqlite:///data/pushpool.db", "data/pushpool.db"),
        ("sqlite:////var/lib/pushpool.db", "/var/lib/pushpool.db"),
        ("sqlite://", ":memory:"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_are_spelt_as_sqlalchemy_spells_them(url, path):
    assert sqlite_path(url) == path


def test_open_store_creates_the_file_and_its_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    store = open_store("sqlite:///state/pushpool.db")

    pool, _ = add_pool(store, "here")
    absolute = tmp_path / "state" / "pushpool.db"
    assert absolute.exists()
    assert open_store(f"sqlite:///{absolute}").get_pool("here") == pool  # four slashes


@pytest.mark.parametrize(
    "url, hint",
    [
        ("postgres://x", "sqlite:///"),
        ("pools.db", "dynamodb://TABLE"),
        ("sqlite:///", "sqlite:////absolute"),
        ("dynamodb://", "dynamodb://TABLE"),
    ],
)
def test_unusable_store_urls_say_what_to_write(url, hint):
    with pytest.raises(InvalidInput, match=hint):
        open_store(url)


def test_deployments_from_before_schedule_progress_are_scheduled_after_the_upgrade(tmp_path):
    """Issue 16's migration: a file written by the previous schema version
    keeps every deployment where the tick looks, so none loses its runs."""
    from core.store.sqlite.schema import MIGRATIONS
    from tests.contract.builders import make_deployment

    path = tmp_path / "old.db"
    pool, _ = make_pool("old")
    deployment = make_deployment(pool)
    with sqlite3.connect(path) as raw:
        for statements in MIGRATIONS[:2]:
            for statement in statements:
                raw.execute(statement)
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version (version) VALUES (2)")
        raw.execute(
            "INSERT INTO deployments (id, flow_name, name, work_pool_name, version, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                deployment.id,
                deployment.flow_name,
                deployment.name,
                pool.name,
                1,
                deployment.model_dump_json(),
            ),
        )

    store = SqliteStore(path)

    found = store.deployments_to_schedule(NOW, limit=10)
    assert [(p.deployment, p.materialised_until) for p in found] == [(deployment, None)]
    store.close()
