"""The DynamoDB adapter of the Store port, split by subject.

``store`` assembles ``DynamoStore`` from ``pools``, ``catalog``, ``runs`` and
``slots``; ``table`` owns retries and error translation; ``schema`` the key
layout, indexes and ``create_table``; ``items`` and ``codec`` the encoding.
"""
