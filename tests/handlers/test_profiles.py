"""The composition root's use cases: built once per profile, with the
profile's choices, and the tick chosen by whether dispatch functions exist."""

from __future__ import annotations

import threading
from datetime import timedelta

from core.services.dispatch import Dispatcher
from core.services.tick import DelegatingTicker, Ticker
from core.store.sqlite.store import SqliteStore
from handlers.bootstrap import Settings, bootstrap
from handlers.dispatch import RETRY_BASE_SECONDS
from handlers.profiles import Profile
from tests.handlers.test_bootstrap_aws import TEMPLATE_ENVIRONMENT
from tests.integration.support import Triggers


def container(tmp_path, settings: Settings | None = None, **overrides):
    return bootstrap(
        store=SqliteStore(tmp_path / "pushpool.db"),
        settings=settings or Settings(store_url="sqlite://"),
        **overrides,
    )


def test_each_use_case_is_built_once_per_profile_even_when_asked_for_at_once(tmp_path):
    root = container(tmp_path)
    start = threading.Barrier(16)
    seen: list[Dispatcher] = []

    def ask() -> None:
        start.wait()
        seen.append(root.services(Profile.CLOUD).dispatcher)

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(seen) == 16
    assert all(d is seen[0] for d in seen)
    assert root.services(Profile.CLOUD).ticker is root.services(Profile.CLOUD).ticker
    assert root.services(Profile.LOCAL).dispatcher is not seen[0]


def test_cloud_passes_take_the_pools_turn_and_resume_claims_when_sqs_retries(tmp_path):
    root = container(tmp_path)
    cloud = root.services(Profile.CLOUD)

    assert cloud.dispatcher.turn_ids is root.ids
    assert cloud.dispatcher.resume_after == timedelta(seconds=RETRY_BASE_SECONDS)
    assert cloud.lifecycle.quiet_after == timedelta(minutes=5)  # ECS events arrive


def test_the_local_loop_takes_no_turn_and_resumes_claims_when_it_retries(tmp_path):
    local = container(tmp_path).services(Profile.LOCAL)

    assert local.dispatcher.turn_ids is None
    assert local.dispatcher.resume_after == timedelta(seconds=2)
    assert local.lifecycle.quiet_after is None  # no events reach it: poll every run


def test_the_tick_delegates_only_where_dispatch_functions_exist(tmp_path):
    cloud_settings = Settings.from_env(TEMPLATE_ENVIRONMENT).with_(store_url="sqlite://")

    deployed = container(tmp_path, cloud_settings).services(Profile.CLOUD).ticker
    no_queues = container(tmp_path).services(Profile.CLOUD).ticker
    own_trigger = container(tmp_path, cloud_settings, trigger=Triggers())
    local_with_queues = container(tmp_path, cloud_settings).services(Profile.LOCAL).ticker

    assert isinstance(deployed, DelegatingTicker)
    assert not hasattr(deployed, "provider_for")  # it cannot call a provider
    assert isinstance(no_queues, Ticker)
    assert isinstance(own_trigger.services(Profile.CLOUD).ticker, Ticker)
    assert isinstance(local_with_queues, Ticker)  # the server polls and stops itself
