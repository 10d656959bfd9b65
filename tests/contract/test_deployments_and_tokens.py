"""Flows, deployments, tokens and the small cache."""

from __future__ import annotations

import pytest

from core.errors import Conflict, NotFound
from core.models import Flow
from tests.contract.builders import NOW, add_pool, make_deployment, make_token, new_id


def test_ensure_flow_creates_once_and_returns_the_existing_flow_by_name(store):
    flow = Flow(id=new_id(), name="etl", created=NOW)

    assert store.ensure_flow(flow) == flow
    again = store.ensure_flow(Flow(id=new_id(), name="etl", created=NOW))
    assert again == flow
    assert store.get_flow(flow.id) == flow
    with pytest.raises(NotFound):
        store.get_flow("nope")


def test_deployments_read_back_by_id_and_by_flow_and_name(store):
    pool, _ = add_pool(store, "etl-pool")
    deployment = make_deployment(pool, "nightly").model_copy(
        update={"job_variables": {"cpu": 2}, "parameters": {"day": "mon"}}
    )
    store.create_deployment(deployment)

    assert store.get_deployment(deployment.id) == deployment
    assert store.find_deployment("etl", "nightly") == deployment
    with pytest.raises(NotFound):
        store.find_deployment("etl", "hourly")
    with pytest.raises(NotFound):
        store.get_deployment("nope")


def test_deployment_names_are_unique_per_flow(store):
    pool, _ = add_pool(store)
    store.create_deployment(make_deployment(pool, "nightly", flow_name="etl"))

    with pytest.raises(Conflict):
        store.create_deployment(make_deployment(pool, "nightly", flow_name="etl"))
    store.create_deployment(make_deployment(pool, "nightly", flow_name="reports"))
    assert len(store.list_deployments()) == 2


def test_deployments_are_listed_and_filtered_by_pool_name(store):
    a, _ = add_pool(store, "a")
    b, _ = add_pool(store, "b")
    d1 = make_deployment(a, "one", flow_name="f")
    d2 = make_deployment(b, "two", flow_name="f")
    d3 = make_deployment(a, "three", flow_name="g")
    for deployment in (d3, d2, d1):
        store.create_deployment(deployment)

    assert store.list_deployments() == [d1, d2, d3]
    assert store.list_deployments(pool_name="a") == [d1, d3]
    assert store.list_deployments(pool_name="c") == []


def test_update_deployment_is_version_checked(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    updated = store.update_deployment(deployment.model_copy(update={"paused": True}))

    assert updated.version == deployment.version + 1
    assert store.get_deployment(deployment.id) == updated
    with pytest.raises(Conflict):
        store.update_deployment(deployment.model_copy(update={"description": "stale"}))
    with pytest.raises(NotFound):
        store.update_deployment(make_deployment(pool, "ghost"))


def test_renaming_a_deployment_onto_a_taken_name_conflicts(store):
    pool, _ = add_pool(store)
    store.create_deployment(make_deployment(pool, "a"))
    b = make_deployment(pool, "b")
    store.create_deployment(b)

    with pytest.raises(Conflict):
        store.update_deployment(b.model_copy(update={"name": "a"}))
    assert store.find_deployment("etl", "b") == b


def test_delete_deployment(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    store.delete_deployment(deployment)

    with pytest.raises(NotFound):
        store.get_deployment(deployment.id)
    with pytest.raises(NotFound):
        store.delete_deployment(deployment)
    store.create_deployment(make_deployment(pool))  # the name is free again


def test_tokens_are_found_by_their_secret_hash(store):
    admin = make_token("a" * 64)
    worker = make_token("b" * 64, scope="worker").model_copy(update={"pool_name": "etl"})
    store.put_token(admin)
    store.put_token(worker)

    assert store.find_token("a" * 64) == admin
    assert store.find_token("b" * 64) == worker
    assert store.find_token("c" * 64) is None


def test_cache_values_are_stored_and_overwritten(store):
    assert store.get_cached("task-def:abc") is None

    store.put_cached("task-def:abc", "arn:1")
    store.put_cached("task-def:abc", "arn:2")
    store.put_cached("other", "x")

    assert store.get_cached("task-def:abc") == "arn:2"
    assert store.get_cached("other") == "x"
