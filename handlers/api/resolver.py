"""A Powertools resolver that serves requests from many threads at once.

Powertools keeps the event being resolved in a class attribute
(``BaseRouter.current_event``) and the routing state in an instance dict
(``context``), so one resolver could serve one request at a time and the
local server held a lock around every request: one slow request (a
pathological template pattern, a large filter) froze health checks, worker
polls and claims behind it (issue 14).  Here both live in thread-local
storage, so independent requests run concurrently and the store's own
transactions are the only serialisation point, as on Lambda.

Route middleware stacks are built lazily on a route's first call and that
build is not idempotent (it wraps the stack again), so :meth:`prepare`
builds every stack once, before the first request.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent


class ThreadSafeResolver(APIGatewayHttpResolver):
    def __init__(self, **kwargs: Any) -> None:
        self._local = threading.local()
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def current_event(self) -> BaseProxyEvent:
        event: BaseProxyEvent = self._local.event
        return event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        self._local.event = value

    @property
    def context(self) -> dict[str, Any]:
        if not hasattr(self._local, "context"):
            self._local.context = {}
        found: dict[str, Any] = self._local.context
        return found

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._local.context = value

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        # Powertools also sets the shared class attribute; reads go through
        # the property above, which sees this thread's event only.
        self.current_event = self._to_proxy_event(dict(event))
        return super().resolve(event, context)

    def prepare(self) -> None:
        """Build every route's middleware stack now, while one thread runs."""
        for route in self._static_routes + self._dynamic_routes:
            if not route._middleware_stack_built:
                route._build_middleware_stack(router_middlewares=self._router_middlewares, app=self)
