"""Count what one flow run's life costs on the serverless path, request by request.

The cost model needs counts, not guesses: this drives the very code the
Lambda functions run (``tests.bench.lambda_functions.Functions``: the API
resolver, a dispatcher pass, the infrastructure-event service and the tick)
on a ``DynamoStore`` over in-process moto, and counts every DynamoDB request
and unit with ``tests.bench.store_cost.CostMeter``.  Dispatch requests (one
SQS message each in the cloud) are counted as each invocation sends them,
and each one is served by a dispatcher pass, as the queue would.

The same scenario also runs with each function in a worker process of its
own against a moto server (``Lifecycle(workers=...)``), which measures the
CPU time of every warm invocation instead of counting.

One invocation is one ``Invocation``: which function, how many DynamoDB
requests, units, SQS messages sent and provider calls it made (and, from a
worker, the CPU time it took).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.ports import InfraPhase, InfraStatus
from core.services.auth import create_token, run_token
from tests.bench.lambda_functions import POOL_TYPE, RUN_TOKEN_KEY, Functions, Worker
from tests.bench.store_cost import CostMeter, Tally

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

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
    cpu_ms: float | None = None  # measured by a worker process (``Lifecycle(workers=...)``)
    provider_polls: int = 0  # status calls (ECS DescribeTasks) of a poll


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
    """A table, the store over it, and the four functions' work.

    In process (the default), on moto's in-process backend, every DynamoDB
    request and unit is counted.  With ``workers`` (one ``Worker`` per
    function, against a moto server at ``endpoint``), each invocation runs in
    its function's own process and comes back with the CPU time it took;
    nothing is counted then (moto's backend is in the server's process).
    """

    def __init__(
        self,
        *,
        run_reports: int,
        table: str = "lifecycle",
        forwarded: Callable[[str, str], bool] = every_event,
        endpoint: str | None = None,
        workers: Mapping[str, Worker] | None = None,
    ) -> None:
        import boto3

        from core.store.dynamodb.schema import create_table
        from core.store.dynamodb.store import DynamoStore

        self.run_reports = run_reports
        self.forwarded = forwarded
        client = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
        create_table(client, table)
        self.client = client
        self.store = DynamoStore(table, client=client)
        self.workers = workers
        self.meter = CostMeter(client, table) if workers is None else None
        self.functions = Functions(self.store, table) if workers is None else None
        self.requests: list[tuple[str, bool]] = []  # dispatch messages not served yet
        self.now: datetime | None = None  # simulated time of the next invocations; None: now
        self.clock = lambda: self.now or datetime.now(UTC)
        self.invocations: list[Invocation] = []
        self.admin = create_token(
            self.store, scope="admin", secret="a" * 40, token_id="bench-admin", now=self.clock()
        )

    def run_token(self, run_id: str) -> str:
        return run_token(run_id, key=RUN_TOKEN_KEY)

    def _invoke(self, function: str, what: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One invocation of ``function``, recorded with what it cost."""
        label = f"{function} {what}#{len(self.invocations)}"
        if self.now is not None:
            payload = {**payload, "now": self.now.isoformat()}
        if self.workers is not None:
            tally, reply = Tally(), self.workers[function].invoke(payload)
        else:
            assert self.meter is not None and self.functions is not None
            with self.meter.step(label) as tally:
                reply = self.functions.invoke(function, payload)
        requests = [(pool, look_after) for pool, look_after in reply["requests"]]
        self.requests += requests
        sent = reply.get("tick_messages", len(requests))
        self.invocations.append(
            Invocation(
                function,
                what,
                tally,
                sent,
                reply["submitted"],
                reply.get("cpu_ms"),
                provider_polls=reply.get("polls", 0),
            )
        )
        return reply

    # -- one invocation each ----------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Any:
        """One API request with the admin token (or ``token``)."""
        event = api_event(method, path, body, token=token or self.admin)
        reply = self._invoke("api", f"{method} {path}", {"event": event})
        if reply["status"] >= 400:
            raise RuntimeError(f"{method} {path}: {reply['body']}")
        return json.loads(reply["body"]) if reply.get("body") else None

    def drain_dispatch(self) -> None:
        """Serve every dispatch request sent so far, one invocation each."""
        while self.requests:
            pool_name, look_after = self.requests.pop(0)
            self._invoke("dispatch", "dispatch pass", {"pool": pool_name, "look_after": look_after})

    def infra_event(self, run_id: str, infra_id: str, status: InfraStatus) -> None:
        payload = {
            "run_id": run_id,
            "infra_id": infra_id,
            "phase": status.phase.value,
            "exit_code": status.exit_code,
        }
        self._invoke("infra_events", f"ECS event ({status.phase})", payload)

    def tick(self) -> None:
        self._invoke("tick", "tick", {})

    # -- scenarios ----------------------------------------------------------------------------
    def setup(self) -> str:
        """A push pool and a deployment, as an admin would make them (not counted)."""
        self.api("POST", "/api/work_pools/", {"name": "etl", "type": POOL_TYPE})
        flow = self.api("POST", "/api/flows/", {"name": "nightly"})
        body = {"name": "daily", "flow_id": flow["id"], "work_pool_name": "etl"}
        deployment = self.api("POST", "/api/deployments/", body)
        self.invocations.clear()
        self.requests.clear()
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
        token = self.run_token(run_id)
        self.api("POST", f"/api/flow_runs/{run_id}/set_state", body, token=token)

    def idle_tick(self) -> Invocation:
        self.tick()
        return self.invocations[-1]


def reads_table(life: list[Invocation]) -> str:
    """Every invocation of one run (after) with its DynamoDB requests and read units."""
    rows = ["DynamoDB per invocation, one run (after):", f"{'invocation':58} {'RRU':>5}  requests"]
    for invocation in life:
        function, what = invocation.function, UUID.sub("{id}", invocation.what)
        requests = ", ".join(f"{op} {n}" for op, n in sorted(invocation.dynamodb.requests.items()))
        rows.append(f"{function + ' ' + what:58} {invocation.dynamodb.rcu:5.1f}  {requests}")
    total = sum(i.dynamodb.rcu for i in life)
    rows.append(f"{'total':58} {total:5.1f}  {sum(i.dynamodb.request_count for i in life)}")
    return "\n".join(rows)
