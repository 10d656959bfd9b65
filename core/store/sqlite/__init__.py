"""The SQLite adapter of the Store port, split by subject.

``store`` composes ``SqliteStore`` from one part per subject, each holding
the same :class:`db.Database`: ``pools``, ``queues``, ``workers``,
``catalog`` (flows, deployments, tokens, cache), ``runs`` (reads and
creation), ``slots`` (claims, state changes, counters), ``turns`` (the
dispatch lease) and ``logs``; ``run_writes`` holds the run-row and counter
writes ``runs`` and ``slots`` share.  ``db`` owns connections, transactions
and error translation, ``schema`` the numbered migrations.
``core.store.dynamodb`` has the same subjects in files of the same names.
"""
