"""What every use case needs from the outside world, in one value.

Handlers build one ``Context`` (through ``handlers.bootstrap``) and pass it to
the service functions; tests build one with a real store, a fixed clock and
counting ids.  Keeping the dependencies explicit is what lets the services
stay pure: no environment, no clock, no uuid4 in here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.ports import Clock, DispatchTrigger, IdFactory, PoolTypes, Store

DEFAULT_SUBMIT_LEASE = timedelta(minutes=5)


class NoTrigger:
    """A trigger that does nothing: the per-minute tick will pick the work up."""

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        return None


def dispatch_is_set_up(pool_type: str) -> str | None:
    """Every pool type can be dispatched here (the local server dispatches all of
    them in-process); a deployment that cannot says why in its own checker."""
    return None


@dataclass(frozen=True)
class Context:
    store: Store
    clock: Clock
    ids: IdFactory
    types: PoolTypes
    trigger: DispatchTrigger = field(default_factory=NoTrigger)
    submit_lease: timedelta = DEFAULT_SUBMIT_LEASE
    # For a push or managed pool type: what is missing to dispatch it, or None.
    dispatch_setup: Callable[[str], str | None] = dispatch_is_set_up
