"""One dispatcher per pool at a time: a pass runs in the pool's *turn*.

Dispatch requests for one pool arrive from many places at once (the tick,
the API on a new run, a freed slot) and in the cloud several dispatch
functions handle them in parallel.  Passes of one pool racing each other
plan the same runs and lose most of their claims (65% with 4 dispatchers,
81% with 16), each loss a billed conditional write.  So a pass first takes
the pool's lease in the store (``Store.take_dispatch_turn``); a request that
finds it held marks it instead, and the holder, before releasing, sees the
mark and passes once more: the request is served, by the one dispatcher.

A holder that dies (kill -9, a Lambda timeout) blocks the pool only until
its lease expires (``DEFAULT_TURN``); the next request after that, at the
latest the tick's next message for the still-due pool, takes it over.
Claims stay the store's conditional writes, so a pass that outlives its
lease and meets a second holder is safe, merely contended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, TypeVar

from core.errors import PushpoolError
from core.ports import Again, Clock, Store

# Longer than one pass may take: the dispatch function's timeout is 60 s.
DEFAULT_TURN = timedelta(seconds=90)
# Passes one turn makes for requests that came in meanwhile; past this the
# holder releases and asks for a fresh message (``Turn.more``), so a pool
# that is asked for without pause cannot keep one invocation forever.
MAX_PASSES = 5

Result = TypeVar("Result")


@dataclass(frozen=True)
class Turn(Generic[Result]):
    """The passes one request made: none if another dispatcher held the pool."""

    passes: list[Result] = field(default_factory=list)
    more: bool = False  # stopped at MAX_PASSES with another pass asked for

    @property
    def held_elsewhere(self) -> bool:
        return not self.passes


def in_turn(
    store: Store,
    pool_id: str,
    run_pass: Callable[[bool], Result],
    *,
    holder: str,
    clock: Clock,
    resume: bool,
    lease: timedelta = DEFAULT_TURN,
    max_passes: int = MAX_PASSES,
) -> Turn[Result]:
    """``run_pass(resume)`` while holding the pool's turn, again for every
    request marked meanwhile; nothing if another holder runs (it was marked).
    ``holder`` must be unique to this call.  A pass that raises releases the
    turn (its own retry will come) and the error propagates."""
    now = clock()
    wanted = Again.RESUME if resume else Again.ADMIT
    if not store.take_dispatch_turn(pool_id, holder, at=now, until=now + lease, again=wanted):
        return Turn()
    passes: list[Result] = []
    try:
        while True:
            passes.append(run_pass(resume))
            last = len(passes) >= max_passes
            until = None if last else clock() + lease
            mark = store.end_dispatch_turn(pool_id, holder, until=until)
            if mark is None:
                return Turn(passes)
            if last:
                return Turn(passes, more=True)
            resume = mark is Again.RESUME
    except BaseException:
        _release_quietly(store, pool_id, holder)
        raise


def _release_quietly(store: Store, pool_id: str, holder: str) -> None:
    """On the way out of a failed pass: a store error here would hide the
    pass's own; the lease then simply expires."""
    with contextlib.suppress(PushpoolError):
        store.end_dispatch_turn(pool_id, holder, until=None)
