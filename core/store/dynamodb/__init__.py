"""The DynamoDB adapter of the Store port, split by subject.

``store`` composes ``DynamoStore`` from one part per subject, each holding
the same :class:`table.Table`: ``pools``, ``queues``, ``workers``,
``catalog`` (flows, deployments, tokens, cache), ``runs`` (reads and
creation), ``slots`` (claims, state changes, counters), ``turns`` (the
dispatch lease) and ``logs``; ``run_writes`` builds the run and counter
writes ``runs`` and ``slots`` share.  ``table`` owns retries and error
translation, ``schema`` the key layout, indexes and ``create_table``,
``items``, ``codec`` and ``ops`` the encoding.  ``core.store.sqlite`` has the
same subjects in files of the same names.
"""
