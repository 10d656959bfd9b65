"""The SQLite store's tables and indexes, as numbered migrations.

``Database`` applies the ones a file has not had yet, in one write
transaction, and records the version reached in ``schema_version``.
"""

from __future__ import annotations

# Each entry upgrades the schema by one version; never edit a released entry,
# append a new one.  The version reached is recorded in ``schema_version``.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE pools (
            id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
            is_paused INTEGER NOT NULL, concurrency_limit INTEGER,
            active INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL, body TEXT NOT NULL)""",
        """CREATE TABLE queues (
            id TEXT PRIMARY KEY, pool_id TEXT NOT NULL, name TEXT NOT NULL,
            priority INTEGER NOT NULL, is_paused INTEGER NOT NULL, concurrency_limit INTEGER,
            active INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL, body TEXT NOT NULL,
            UNIQUE (pool_id, name))""",
        """CREATE TABLE workers (
            pool_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
            PRIMARY KEY (pool_id, name))""",
        "CREATE TABLE flows (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, body TEXT NOT NULL)",
        """CREATE TABLE deployments (
            id TEXT PRIMARY KEY, flow_name TEXT NOT NULL, name TEXT NOT NULL,
            work_pool_name TEXT NOT NULL, version INTEGER NOT NULL, body TEXT NOT NULL,
            UNIQUE (flow_name, name))""",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, pool_id TEXT NOT NULL, queue_id TEXT NOT NULL,
            deployment_id TEXT, state_type TEXT NOT NULL,
            next_scheduled_start_time TEXT NOT NULL, version INTEGER NOT NULL,
            body TEXT NOT NULL)""",
        "CREATE INDEX runs_by_pool ON runs (pool_id, state_type, next_scheduled_start_time)",
        "CREATE INDEX runs_by_state ON runs (state_type, next_scheduled_start_time)",
        "CREATE INDEX runs_by_queue ON runs (queue_id, state_type)",
        "CREATE INDEX runs_by_deployment ON runs (deployment_id)",
        """CREATE TABLE tokens (
            id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL UNIQUE, body TEXT NOT NULL)""",
        "CREATE TABLE cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        # seq orders lines by arrival, so the total cap drops the oldest written
        # with one range delete on the rowid; (run_id, key) orders a run's lines.
        """CREATE TABLE logs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, key TEXT NOT NULL,
            body TEXT NOT NULL, UNIQUE (run_id, key))""",
    ),
    (
        # Issue 16: the tick reads only the deployments whose schedule needs
        # extending.  NULL: nothing to materialise (kept out of the partial
        # index); UNMATERIALISED: written since the tick last looked, which
        # every existing deployment is when this migration runs.
        "ALTER TABLE deployments ADD COLUMN materialised_until TEXT",
        "UPDATE deployments SET materialised_until = '0000-00-00T00:00:00.000000Z'",
        """CREATE INDEX deployments_to_schedule ON deployments (materialised_until)
            WHERE materialised_until IS NOT NULL""",
    ),
    (
        # A pass reads a queue's first due runs, as many as it can release:
        # (queue, state, time, id) serves that read in order, and still every
        # read the (queue, state) index it replaces served.
        "DROP INDEX runs_by_queue",
        "CREATE INDEX runs_by_queue ON runs (queue_id, state_type, next_scheduled_start_time, id)",
        # One dispatcher per pool at a time (core.services.pool_turns).
        """CREATE TABLE dispatch_leases (
            pool_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires TEXT NOT NULL,
            again TEXT)""",
    ),
)
# Sorts before every ``ts`` value: a deployment created or written since the
# tick last materialised its schedule (the migration above spells it out).
UNMATERIALISED = "0000-00-00T00:00:00.000000Z"
SCHEMA_VERSION = len(MIGRATIONS)
