"""The deployed stack, in moto: what template.yaml creates, and what AWS does
between the functions.

``deployed_stack()`` creates the table, the dispatch queue with its
dead-letter redrive, the admin-token parameter, the ECS clusters and the environment the
template gives the functions; the functions' shared container is built from
that environment (a cold start) with a settable clock.  ``Stack`` then plays
AWS's part with real event shapes (the samples under ``tests/events/``):

* ``api`` is API Gateway: an HTTP API payload v2 event for ``handlers.api``;
* ``tick`` is EventBridge Scheduler's minute for ``handlers.tick``;
* ``drain`` is Lambda's SQS event source mapping: it receives up to ten
  messages, invokes ``handlers.dispatch`` with them, deletes the ones not
  reported as failures and leaves the failures to SQS's visibility timeout;
  ``redeliver`` lets that timeout pass for the held ones;
* ``ecs_event`` is EventBridge: an "ECS Task State Change" event of a task
  as ECS holds it, for ``handlers.infra_events``.

Every RunTask the dispatcher sends is recorded (``run_task_calls``) and can
be answered with a placement failure instead (``fail_next_run_task``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.responses import ActionResult
from moto.ecs.exceptions import ECSException
from moto.ecs.responses import EC2ContainerServiceResponse

import handlers.api
import handlers.dispatch
import handlers.infra_events
import handlers.tick
from core.store import dynamodb
from handlers import bootstrap as composition
from tests.clock import FakeClock
from tests.contract.backends import use_moto_environment
from tests.fakes.moto_ecs import REGION, MotoEcs, moto_ecs, task_state_change_event

EVENTS = Path(__file__).resolve().parents[1] / "events"
API_URL = "https://abc123defg.execute-api.us-east-1.amazonaws.com/api"
CLUSTER = "flows"
MAX_RECEIVE_COUNT = 5
ADMIN_TOKEN = "admin-token-from-the-stack-parameter-0123456789abcdef"
ADMIN_TOKEN_PARAMETER = "/pushpool/pushpool/admin-token"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


@dataclass
class RunTaskCall:
    at: datetime  # the stack's clock when ECS received it
    run_id: str
    client_token: str
    cluster: str
    launch_type: str | None
    network: dict[str, Any] | None
    failed: bool = False


@dataclass
class Stack:
    clock: FakeClock
    ecs: MotoEcs
    queue_url: str
    dead_letter_url: str
    managed_cluster_arn: str
    sqs: Any
    ecs_client: Any
    run_task_calls: list[RunTaskCall] = field(default_factory=list)
    batch_responses: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[dict[str, str]] = field(default_factory=list)
    _held: list[str] = field(default_factory=list)

    @property
    def container(self) -> composition.Container:
        return composition.bootstrap()

    # -- API Gateway -------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, expect: int | None = None) -> Any:
        event = copy.deepcopy(sample("api_gateway_http_request.json"))
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = method
        event["headers"]["authorization"] = f"Bearer {ADMIN_TOKEN}"
        event["requestContext"]["timeEpoch"] = int(self.clock().timestamp() * 1000)
        event["body"] = json.dumps(body) if body is not None else None
        answer = handlers.api.handler(event, None)
        status = answer["statusCode"]
        payload = json.loads(answer["body"]) if answer.get("body") else None
        if expect is not None:
            assert status == expect, payload
        elif status >= 300:
            raise AssertionError(f"{method} {path} answered {status}: {payload}")
        return payload

    # -- EventBridge Scheduler ---------------------------------------------------------
    def tick(self) -> dict[str, Any]:
        event = sample("scheduler_tick.json")
        event["time"] = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        summary: dict[str, Any] = handlers.tick.handler(event, None)
        return summary

    # -- SQS -> Lambda ------------------------------------------------------------------
    def drain(self, *, batches: int = 50) -> int:
        """Deliver visible messages until none is left; returns how many were delivered."""
        delivered = 0
        for _ in range(batches):
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            messages = answer.get("Messages") or []
            if not messages:
                return delivered
            delivered += len(messages)
            self._invoke_dispatch(messages)
        raise AssertionError("the dispatch queue never drained")

    def send_raw(self, body: str) -> None:
        """A message as any sender (or SQS redelivering a copy) would put it."""
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def redeliver(self) -> None:
        """Let the visibility timeout of the messages reported as failures pass."""
        for receipt in self._held:
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
            )
        self._held.clear()

    def queue_depth(self) -> dict[str, int]:
        attributes = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        got = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=attributes)
        return {name: int(got["Attributes"][name]) for name in attributes}

    def _invoke_dispatch(self, messages: list[dict[str, Any]]) -> None:
        template = sample("sqs_dispatch_batch.json")["Records"][0]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        records = []
        for message in messages:
            record = copy.deepcopy(template)
            record.update(
                messageId=message["MessageId"],
                receiptHandle=message["ReceiptHandle"],
                body=message["Body"],
                md5OfBody=message["MD5OfBody"],
                eventSourceARN=arn["Attributes"]["QueueArn"],
                awsRegion=REGION,
            )
            record["attributes"] = {
                k: v for k, v in message["Attributes"].items() if k in template["attributes"]
            }
            records.append(record)
        response = handlers.dispatch.handler({"Records": records}, None)
        self.batch_responses.append(response)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                self._held.append(message["ReceiptHandle"])
            else:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    # -- EventBridge: ECS task state changes -----------------------------------------------
    def ecs_event(self, infra_id: str, *, version: int = 1) -> dict[str, Any]:
        """Send the task's current state as ECS would after a change."""
        cluster, task_arn = infra_id.split("|")
        task = self.ecs_client.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        event = task_state_change_event(task, version=version)
        result: dict[str, Any] = handlers.infra_events.handler(event, None)
        return result

    # -- ECS ----------------------------------------------------------------------------
    def fail_next_run_task(self, reason: str, detail: str = "") -> None:
        """Answer the next RunTask with a placement failure (``failures``), as ECS does."""
        self._failures.append({"reason": reason, "detail": detail})

    def record_run_task(self, response: EC2ContainerServiceResponse) -> ActionResult:
        started_by = str(response._get_param("startedBy") or "")
        call = RunTaskCall(
            at=self.clock(),
            run_id=started_by.removeprefix("pushpool/"),
            client_token=str(response._get_param("clientToken")),
            cluster=str(response._get_param("cluster")),
            launch_type=response._get_param("launchType"),
            network=response._get_param("networkConfiguration"),
        )
        self.run_task_calls.append(call)
        if self._failures:
            call.failed = True
            failure = self._failures.pop(0)
            arn = f"arn:aws:ecs:{REGION}:123456789012:cluster/{call.cluster}"
            return ActionResult({"tasks": [], "failures": [{"arn": arn, **failure}]})
        try:
            return MotoEcs.run_task(self.ecs, response)
        except ECSException:
            call.failed = True  # ECS refused it (moto raises what ECS answers)
            raise


@contextmanager
def deployed_stack(
    monkeypatch: pytest.MonkeyPatch, *, now: datetime, clock: FakeClock | None = None
) -> Iterator[Stack]:
    """The stack at ``now`` on a settable clock, or on ``clock`` if given."""
    use_moto_environment(monkeypatch, endpoint=None)
    with moto_ecs() as ecs:
        table = "pushpool-e2e"
        dynamodb.create_table(boto3.client("dynamodb"), table)
        sqs = boto3.client("sqs")
        dead = sqs.create_queue(QueueName="pushpool-DispatchDeadLetterQueue")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
            "maxReceiveCount": str(MAX_RECEIVE_COUNT),
        }
        queue = sqs.create_queue(
            QueueName="pushpool-DispatchQueue",
            Attributes={"VisibilityTimeout": "360", "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        # The admin token is put as a user would read it back; the run-token key is
        # left for the first function to create (handlers/aws/parameters.py).
        boto3.client("ssm").put_parameter(
            Name=ADMIN_TOKEN_PARAMETER, Value=ADMIN_TOKEN, Type="SecureString"
        )
        client = boto3.client("ecs")
        client.create_cluster(clusterName=CLUSTER)
        managed = client.create_cluster(clusterName="pushpool-ManagedCluster")["cluster"]
        environment = {
            "PUSHPOOL_STORE": f"dynamodb://{table}",
            "PUSHPOOL_API_URL": API_URL,
            "PUSHPOOL_DISPATCH_QUEUE_URL": queue,
            "PUSHPOOL_DISPATCH_QUEUE_URL_GCP": "",
            "PUSHPOOL_DISPATCH_QUEUE_URL_AZURE": "",
            "PUSHPOOL_DISPATCH_QUEUE_URL_MODAL": "",
            "PUSHPOOL_DISPATCH_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
            "PUSHPOOL_RUN_RETENTION_DAYS": "30",
            "PUSHPOOL_RUN_TOKEN_KEY_PARAMETER": "/pushpool/pushpool/run-token-key",
            "PUSHPOOL_ADMIN_TOKEN_PARAMETER": ADMIN_TOKEN_PARAMETER,
            "PUSHPOOL_MANAGED_CLUSTER": managed["clusterArn"],
            "PUSHPOOL_MANAGED_SUBNETS": ",".join(default_subnets()),
            "PUSHPOOL_MANAGED_SECURITY_GROUPS": managed_security_group(),
            "PUSHPOOL_MANAGED_EXECUTION_ROLE_ARN": (
                "arn:aws:iam::123456789012:role/pushpool-ManagedTaskExecutionRole"
            ),
            "PUSHPOOL_MANAGED_LOG_GROUP": "pushpool-ManagedTaskLogGroup",
            "POWERTOOLS_SERVICE_NAME": "pushpool",
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PUSHPOOL_RUN_TOKEN_KEY", raising=False)
        monkeypatch.delenv("PUSHPOOL_AUTH", raising=False)
        clock = clock or FakeClock(now)
        # A cold start: the container is built from the environment, with our clock.
        monkeypatch.setattr(composition._Default, "container", composition.bootstrap(clock=clock))
        stack = Stack(
            clock=clock,
            ecs=ecs,
            queue_url=queue,
            dead_letter_url=dead,
            managed_cluster_arn=managed["clusterArn"],
            sqs=sqs,
            ecs_client=client,
        )
        monkeypatch.setattr(ecs, "run_task", stack.record_run_task)
        yield stack


def default_vpc() -> str:
    ec2 = boto3.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    return str(vpcs[0]["VpcId"])


def default_subnets() -> list[str]:
    ec2 = boto3.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc()]}])
    return sorted(s["SubnetId"] for s in subnets["Subnets"])[:2]


def managed_security_group() -> str:
    """The security group the stack's ``ManagedSecurityGroupIds`` parameter names."""
    ec2 = boto3.client("ec2")
    group = ec2.create_security_group(
        GroupName="pushpool-managed-tasks", Description="managed tasks", VpcId=default_vpc()
    )
    return str(group["GroupId"])
