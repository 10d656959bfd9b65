"""Service tests run on the real stores: the contract suite's ``store`` fixtures.

Re-exported here so every integration test is parametrised over the same
adapters as ``tests/contract`` (SQLite always; DynamoDB through moto once
``core.store.dynamodb`` exists).
"""

from tests.contract.conftest import moto_server, store, store_kind, store_url

__all__ = ["moto_server", "store", "store_kind", "store_url"]
