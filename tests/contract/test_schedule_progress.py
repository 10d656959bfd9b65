"""How far each deployment's schedule is materialised (issue 16).

The tick reads only the deployments this says need extending, so a
deployment that drops out of ``deployments_to_schedule`` by mistake never
gets runs again: every write of a deployment must put it back, and the
tick's own record must not survive a write it did not see.
"""

from __future__ import annotations

from datetime import timedelta

from tests.contract.builders import NOW, add_pool, add_run, make_deployment

SOON = NOW + timedelta(minutes=30)


def progress(store, before=SOON, limit=100):
    return [
        (p.deployment.id, p.materialised_until)
        for p in store.deployments_to_schedule(before, limit=limit)
    ]


def test_a_new_deployment_is_to_schedule_with_nothing_materialised(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    found = store.deployments_to_schedule(SOON, limit=10)
    assert [(p.deployment, p.materialised_until) for p in found] == [(deployment, None)]


def test_marking_progress_moves_a_deployment_out_until_its_time_comes(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    assert store.mark_materialised(deployment, until=NOW + timedelta(hours=1))

    assert progress(store) == []
    assert progress(store, before=NOW + timedelta(hours=1)) == []  # strictly before
    later = NOW + timedelta(hours=1, microseconds=1)
    assert progress(store, before=later) == [(deployment.id, NOW + timedelta(hours=1))]
    assert store.get_deployment(deployment.id) == deployment  # no version bump


def test_nothing_to_materialise_removes_it_until_the_deployment_is_written(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    assert store.mark_materialised(deployment, until=None)
    assert progress(store, before=NOW + timedelta(days=10_000)) == []

    stored = store.update_deployment(deployment.model_copy(update={"paused": True}))
    assert progress(store) == [(stored.id, None)]


def test_any_write_of_a_deployment_sets_its_progress_back(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)
    store.mark_materialised(deployment, until=NOW + timedelta(hours=1))

    renamed = store.update_deployment(deployment.model_copy(update={"name": "renamed"}))

    assert progress(store) == [(renamed.id, None)]


def test_progress_is_not_recorded_over_a_write_the_caller_did_not_see(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)
    read = store.deployments_to_schedule(SOON, limit=1)[0].deployment
    store.update_deployment(deployment.model_copy(update={"paused": True}))  # a user's change

    assert not store.mark_materialised(read, until=NOW + timedelta(hours=1))
    assert progress(store) == [(deployment.id, None)]  # the next tick still sees the change


def test_marking_a_deleted_deployment_changes_nothing(store):
    pool, _ = add_pool(store)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)
    store.delete_deployment(deployment)

    assert not store.mark_materialised(deployment, until=NOW + timedelta(hours=1))
    assert progress(store, before=NOW + timedelta(days=1)) == []


def test_deployments_to_schedule_come_earliest_first_up_to_the_limit(store):
    pool, _ = add_pool(store)
    deployments = [make_deployment(pool, f"d{i}") for i in range(5)]
    for deployment in deployments:
        store.create_deployment(deployment)
    offsets = [20, 5, 40, 10, 0]  # minutes; the last stays unmaterialised
    for deployment, minutes in zip(deployments[:4], offsets, strict=False):
        store.mark_materialised(deployment, until=NOW + timedelta(minutes=minutes))

    found = progress(store, limit=3)

    assert found == [
        (deployments[4].id, None),
        (deployments[1].id, NOW + timedelta(minutes=5)),
        (deployments[3].id, NOW + timedelta(minutes=10)),
    ]
    assert [d for d, _ in progress(store)] == [deployments[i].id for i in (4, 1, 3, 0)]
    assert progress(store, limit=0) == []


def test_scheduled_runs_of_a_queue_are_not_mixed_with_deployments(store):
    """DynamoDB keeps both in one index: neither may show up as the other."""
    pool, queue = add_pool(store)
    run = add_run(store, pool, queue, at=NOW)
    deployment = make_deployment(pool)
    store.create_deployment(deployment)

    assert progress(store) == [(deployment.id, None)]
    assert [r.id for r in store.list_due(pool.id, SOON)] == [run.id]
    assert store.due_pools(SOON) == {pool.id: NOW}
