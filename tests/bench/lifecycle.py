"""Count what one flow run's life costs on the serverless path, request by request.

The cost model needs counts, not guesses: this drives the very code the
Lambda functions run — the API resolver (``handlers.api.app.handle``), a
dispatcher pass (``Dispatcher.dispatch``), the infrastructure-event
service (``observe.apply_status``) and the tick (``Ticker.tick``) — on a
``DynamoStore`` over in-process moto, and counts every DynamoDB request
and unit with ``tests.bench.store_cost.CostMeter``.  Dispatch requests
(one SQS message each in the cloud) are counted by a trigger that records
them, and each one is served by a dispatcher pass, as the queue would.

One invocation is one ``Invocation``: which function, how many DynamoDB
requests, units, SQS messages sent and provider calls it made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.ports import InfraPhase, InfraStatus
from core.services.auth import create_token
from tests.bench.recording import RecordingProvider
from tests.bench.store_cost import CostMeter, Tally

POOL_TYPE = "ecs:push"

# Fargate sends one "ECS Task State Change" event per change of lastStatus or
# desiredStatus; as (lastStatus, desiredStatus) and the InfraStatus each means.
# The stack's EventBridge rule decides which reach the infra-events function.
ECS_EVENTS: tuple[tuple[str, str, InfraStatus], ...] = (
    ("PROVISIONING", "RUNNING", InfraStatus(phase=InfraPhase.PENDING)),
    ("PENDING", "RUNNING", InfraStatus(phase=InfraPhase.PENDING)),
    ("ACTIVATING", "RUNNING", InfraStatus(phase=InfraPhase.PENDING)),
    ("RUNNING", "RUNNING", InfraStatus(phase=InfraPhase.RUNNING)),
    ("RUNNING", "STOPPED", InfraStatus(phase=InfraPhase.RUNNING)),
    ("DEACTIVATING", "STOPPED", InfraStatus(phase=InfraPhase.RUNNING)),
    ("STOPPING", "STOPPED", InfraStatus(phase=InfraPhase.RUNNING)),
    ("DEPROVISIONING", "STOPPED", InfraStatus(phase=InfraPhase.RUNNING)),
    ("STOPPED", "STOPPED", InfraStatus(phase=InfraPhase.EXITED, exit_code=0)),
)


def every_event(last_status: str, desired_status: str) -> bool:
    """The rule before issue 16: every change of a pushpool task."""
    return True


@dataclass
class Invocation:
    function: str  # api, dispatch, infra_events, tick
    what: str
    dynamodb: Tally
    sqs_sent: int = 0
    provider_calls: int = 0


@dataclass
class CountingTrigger:
    """Records dispatch requests; each is one SQS message in the cloud."""

    requests: list[tuple[str, bool]] = field(default_factory=list)

    def request_dispatch(
        self, pool_name: str, *, not_before: datetime | None = None, look_after: bool = False
    ) -> None:
        self.requests.append((pool_name, look_after))


def api_event(
    method: str, path: str, body: Any = None, *, token: str | None = None
) -> dict[str, Any]:
    from handlers.local.asgi import to_event

    headers = [(b"content-type", b"application/json"), (b"host", b"api.example")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
    }
    return to_event(scope, json.dumps(body).encode() if body is not None else b"")


class Lifecycle:
    """A moto table, the store and services over it, and the meter on its client."""

    def __init__(
        self,
        *,
        run_reports: int,
        table: str = "lifecycle",
        forwarded: Callable[[str, str], bool] = every_event,
    ) -> None:
        import boto3

        from core.services.dispatch import Dispatcher
        from core.services.tick import Ticker
        from core.store.dynamodb.schema import create_table
        from core.store.dynamodb.store import DynamoStore
        from handlers.bootstrap import Settings, bootstrap
        from providers.registry import REGISTRY

        self.run_reports = run_reports
        self.forwarded = forwarded
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, table)
        self.store = DynamoStore(table, client=client)
        self.meter = CostMeter(client, table)
        self.trigger = CountingTrigger()
        self.provider = RecordingProvider()
        self.clock = lambda: datetime.now(UTC)
        settings = Settings(store_url=f"dynamodb://{table}", auth=True, run_token_key=b"k" * 32)
        self.container = bootstrap(
            store=self.store,
            settings=settings,
            trigger=self.trigger,
            providers={POOL_TYPE: self.provider},
            clock=self.clock,
        )
        self.dispatcher = Dispatcher(
            store=self.store,
            clock=self.clock,
            pool_types=REGISTRY,
            provider_for=lambda pool: self.provider,
            run_token=lambda run: self.container.run_token(run.id),
            api_url="https://api.example/api",
            turn_ids=self.container.ids,  # as the cloud profile builds it (handlers.profiles)
        )
        self.ticker = Ticker(
            store=self.store,
            clock=self.clock,
            pool_types=REGISTRY,
            provider_for=lambda pool: self.provider,
        )
        self.invocations: list[Invocation] = []
        self.admin = create_token(
            self.store, scope="admin", secret="a" * 40, token_id="bench-admin", now=self.clock()
        )

    # -- one invocation each ----------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """One API request with the admin token (or ``token``)."""
        from handlers.api.app import handle

        sent = len(self.trigger.requests)
        event = api_event(method, path, body, token=token or self.admin)
        with self.meter.step(f"api {method} {path}#{len(self.invocations)}") as tally:
            response = handle(event, container=self.container)
        if int(response["statusCode"]) >= 400:
            raise RuntimeError(f"{method} {path}: {response['body']}")
        self.invocations.append(
            Invocation("api", f"{method} {path}", tally, len(self.trigger.requests) - sent)
        )
        return json.loads(response["body"]) if response.get("body") else None

    def drain_dispatch(self) -> None:
        """Serve every dispatch request sent so far, one invocation each."""
        while self.trigger.requests:
            pool_name, look_after = self.trigger.requests.pop(0)
            calls = len(self.provider.submissions)
            with self.meter.step(f"dispatch#{len(self.invocations)}") as tally:
                # as handlers.dispatch: active runs are read only when asked to look after them
                self.dispatcher.dispatch(pool_name, resume=look_after)
            submitted = len(self.provider.submissions) - calls
            self.invocations.append(Invocation("dispatch", "dispatch pass", tally, 0, submitted))

    def infra_event(self, run_id: str, infra_id: str, status: InfraStatus) -> None:
        from core.services.observe import apply_status, slot_awaited

        sent = len(self.trigger.requests)
        with self.meter.step(f"event#{len(self.invocations)}") as tally:
            observed = apply_status(
                self.store, run_id=run_id, infra_id=infra_id, status=status, clock=self.clock
            )
            # as the event handler does: a freed slot wakes the dispatcher if a run waits
            released = observed is not None and observed.released_slot
            if released and slot_awaited(self.store, observed.pool_id, self.clock()):
                self.trigger.request_dispatch(observed.pool_name)
        self.invocations.append(
            Invocation(
                "infra_events",
                f"ECS event ({status.phase})",
                tally,
                len(self.trigger.requests) - sent,
            )
        )

    def tick(self) -> None:
        with self.meter.step(f"tick#{len(self.invocations)}") as tally:
            report = self.ticker.tick()
        self.invocations.append(Invocation("tick", "tick", tally, len(report.dispatch)))

    # -- scenarios ----------------------------------------------------------------------------
    def setup(self) -> str:
        """A push pool and a deployment, as an admin would make them (not counted)."""
        self.api("POST", "/api/work_pools/", {"name": "etl", "type": POOL_TYPE})
        flow = self.api("POST", "/api/flows/", {"name": "nightly"})
        body = {"name": "daily", "flow_id": flow["id"], "work_pool_name": "etl"}
        deployment = self.api("POST", "/api/deployments/", body)
        self.invocations.clear()
        self.trigger.requests.clear()
        return str(deployment["id"])

    def one_run(self, deployment_id: str) -> list[Invocation]:
        """A run created "now" through the API, to COMPLETED; its invocations."""
        start = len(self.invocations)
        run = self.api(
            "POST",
            f"/api/deployments/{deployment_id}/create_flow_run",
            {"state": {"type": "SCHEDULED"}},
        )
        self.drain_dispatch()
        stored = self.store.get_run(run["id"])
        infra_id = stored.infrastructure_pid
        if infra_id is None:
            raise RuntimeError("the dispatcher did not submit the run")
        reports = ["RUNNING", "COMPLETED"][: self.run_reports]
        for last_status, desired_status, status in ECS_EVENTS:
            if status.phase is InfraPhase.EXITED and "COMPLETED" in reports:
                self._report(run["id"], "COMPLETED")
            if self.forwarded(last_status, desired_status):
                self.infra_event(run["id"], infra_id, status)
            if (last_status, desired_status) == ("RUNNING", "RUNNING") and "RUNNING" in reports:
                self._report(run["id"], "RUNNING")
            self.drain_dispatch()
        final = self.store.get_run(run["id"]).state.type
        if final.value != "COMPLETED":
            raise RuntimeError(f"the run ended {final}, not COMPLETED")
        return self.invocations[start:]

    def _report(self, run_id: str, state: str) -> None:
        """The flow reporting its own state with the run token it was given."""
        body = {"state": {"type": state}}
        token = self.container.run_token(run_id)
        self.api("POST", f"/api/flow_runs/{run_id}/set_state", body, token=token)

    def idle_tick(self) -> Invocation:
        self.tick()
        return self.invocations[-1]
