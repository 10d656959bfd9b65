"""The SQLite adapter of the Store port, split by subject.

``store`` assembles ``SqliteStore``; ``db`` owns connections, transactions,
migrations and error translation.
"""
