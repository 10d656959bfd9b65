"""The use cases the handlers drive, built once per profile over one container.

``handlers.bootstrap`` builds the adapters (store, providers, clock,
trigger); this module builds the use cases over them (``Dispatcher``, the
tick, ``Lifecycle``), each once per process and profile, so a handler parses
its event, calls one service and returns::

    services = bootstrap().services(Profile.CLOUD)
    services.dispatcher.dispatch(pool_name)

A profile is how one deployment shape drives the same use cases, and every
way the two differ is chosen here, in :data:`CHOICES`, named for why:

* ``CLOUD``: the Lambda functions (``handlers.dispatch``, ``handlers.tick``,
  ``handlers.infra_events``), many at once, each for a moment;
* ``LOCAL``: ``pushpool server`` and ``pushpool demo``, one process whose
  threads (``handlers.local.loops``) do what SQS, EventBridge and the tick do.

The tick is the one choice that also depends on the deployment: the cloud
profile's tick holds no provider and asks the dispatch functions to poll and
stop (``DelegatingTicker``) where they are deployed (dispatch queues
configured); anywhere else, and always in the local profile, it does both
itself (``Ticker``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, TypeVar, cast

from core.models import FlowRun, WorkPool
from core.ports import Provider
from core.services.admission import DEFAULT_RESUME_AFTER

if TYPE_CHECKING:  # each use case is loaded when first built: a cold start loads its own
    from core.services.dispatch import Dispatcher
    from core.services.lifecycle import Lifecycle
    from core.services.tick import DelegatingTicker, Ticker
    from handlers.bootstrap import Container

Built = TypeVar("Built")


class Profile(Enum):
    CLOUD = "cloud"
    LOCAL = "local"


@dataclass(frozen=True)
class Choices:
    """What differs between the profiles; see :data:`CHOICES` for why."""

    # Dispatch passes over one pool may run at once: each then runs in the
    # pool's turn (``core.services.pool_turns``), one dispatcher at a time.
    passes_may_overlap: bool
    # A claim left unsubmitted this long is resumed by the next pass: when
    # the retry of a failed pass comes.
    resume_claims_after: timedelta
    # Each provider call an X-Ray subsegment (a no-op off Lambda).
    traced_providers: bool
    # A provider that emits events has its runs polled only after this much
    # quiet (the poll is the fallback for a lost event); None: poll them all.
    poll_only_quiet_after: timedelta | None
    # The tick leaves polls and stops to the dispatch functions, if deployed.
    tick_delegates_to_dispatchers: bool


CHOICES: dict[Profile, Choices] = {
    Profile.CLOUD: Choices(
        # Several functions may take one pool's messages at once.
        passes_may_overlap=True,
        # SQS redelivers a failed pass after 30 s, doubling
        # (``handlers.dispatch.retry_delay``).
        resume_claims_after=DEFAULT_RESUME_AFTER,
        traced_providers=True,
        # ECS task events reach the infrastructure-events function.
        poll_only_quiet_after=timedelta(minutes=5),
        # The tick function carries no cloud SDK and may not call ECS.
        tick_delegates_to_dispatchers=True,
    ),
    Profile.LOCAL: Choices(
        # One dispatch loop: its passes never overlap, so the turn's lease
        # writes would buy nothing.
        passes_may_overlap=False,
        # The loop retries a failing pool after 2 s, doubling
        # (``handlers.local.loops.LocalStack.dispatch``).
        resume_claims_after=timedelta(seconds=2),
        traced_providers=False,
        # No events reach the local server: its observe loop polls every run.
        poll_only_quiet_after=None,
        # The server holds every provider, and no other process would act.
        tick_delegates_to_dispatchers=False,
    ),
}


class Services:
    """The use cases of one profile over one container, each built on first use."""

    def __init__(self, container: Container, profile: Profile) -> None:
        self.container = container
        self.profile = profile
        self.choices = CHOICES[profile]
        self._built: dict[str, object] = {}
        self._lock = threading.Lock()

    def _once(self, name: str, build: Callable[[], Built]) -> Built:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            return cast(Built, self._built[name])

    def provider_for(self, pool: WorkPool) -> Provider:
        """The pool type's provider, traced where the profile says so."""
        provider = self.container.provider(pool.type)
        if not self.choices.traced_providers:
            return provider
        from handlers.aws.observability import TracedProvider  # noqa: PLC0415 (cloud only)

        return TracedProvider(provider, pool.type)

    @property
    def dispatcher(self) -> Dispatcher:
        return self._once("dispatcher", self._dispatcher)

    @property
    def ticker(self) -> Ticker | DelegatingTicker:
        return self._once("ticker", self._ticker)

    @property
    def lifecycle(self) -> Lifecycle:
        return self._once("lifecycle", self._lifecycle)

    def _dispatcher(self) -> Dispatcher:
        from core.services.dispatch import Dispatcher  # noqa: PLC0415

        container = self.container

        def run_token(run: FlowRun) -> str:
            return container.run_token(run.id)

        return Dispatcher(
            store=container.store,
            clock=container.clock,
            pool_types=container.types,
            provider_for=self.provider_for,
            run_token=run_token,
            api_url=container.settings.api_url,
            resume_after=self.choices.resume_claims_after,
            turn_ids=container.ids if self.choices.passes_may_overlap else None,
        )

    def _ticker(self) -> Ticker | DelegatingTicker:
        from core.services.tick import DelegatingTicker, Ticker  # noqa: PLC0415

        container = self.container
        if self.choices.tick_delegates_to_dispatchers and container.dispatch_queues is not None:
            return DelegatingTicker(
                store=container.store, clock=container.clock, pool_types=container.types
            )
        return Ticker(
            store=container.store,
            clock=container.clock,
            pool_types=container.types,
            provider_for=self.provider_for,
        )

    def _lifecycle(self) -> Lifecycle:
        from core.services.lifecycle import Lifecycle  # noqa: PLC0415

        return Lifecycle(
            store=self.container.store,
            clock=self.container.clock,
            provider_for=self.provider_for,
            quiet_after=self.choices.poll_only_quiet_after,
        )
