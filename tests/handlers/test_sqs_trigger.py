"""The SQS dispatch trigger: each pool's messages reach its family's queue,
timed to the second; nothing is sent where nothing should happen."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from core.services.admission import DEFAULT_WINDOW
from handlers.aws.families import Family, family_of
from handlers.aws.sqs import DispatchMessage, SqsDispatchTrigger, delay_seconds
from providers.registry import REGISTRY
from tests.clock import FakeClock
from tests.contract.builders import NOW

REGION = "us-east-1"
POOL_TYPES = {
    "on-ecs": "ecs:push",
    "managed": "managed",
    "on-cloud-run": "cloud-run:push",
    "on-cloud-run-v2": "cloud-run-v2:push",
    "on-aci": "azure-container-instance:push",
    "on-modal": "modal:push",
    "on-process": "process",
    "on-ecs-workers": "ecs",
}


@pytest.fixture
def queues(sqs: Any) -> dict[Family, str]:
    return {
        family: sqs.create_queue(QueueName=f"pushpool-dispatch-{family.value}")["QueueUrl"]
        for family in Family
    }


def trigger(
    queues: dict[Family, str], client: Any, clock: FakeClock | None = None
) -> SqsDispatchTrigger:
    return SqsDispatchTrigger(
        queues,
        pool_type_of=POOL_TYPES.get,
        types=REGISTRY,
        clock=clock or FakeClock(NOW),
        client_factory=lambda: client,
    )


def received(sqs: Any, queue: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages") or []
        if not got:
            return bodies
        for message in got:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def test_each_push_pool_is_dispatched_through_its_familys_queue(sqs, queues):
    sending = trigger(queues, sqs)

    for pool in POOL_TYPES:
        sending.request_dispatch(pool)

    assert received(sqs, queues[Family.AWS]) == [
        {"pool": "on-ecs", "kind": "dispatch"},
        {"pool": "managed", "kind": "dispatch"},
    ]
    assert [b["pool"] for b in received(sqs, queues[Family.GCP])] == [
        "on-cloud-run",
        "on-cloud-run-v2",
    ]
    assert [b["pool"] for b in received(sqs, queues[Family.AZURE])] == ["on-aci"]
    assert [b["pool"] for b in received(sqs, queues[Family.MODAL])] == ["on-modal"]


def test_pull_pools_and_unknown_pools_get_no_message(sqs, queues):
    sending = trigger(queues, sqs)

    sent = sending.send(
        [DispatchMessage(pool=name) for name in ("on-process", "on-ecs-workers", "no-such-pool")]
    )

    assert sent == 0
    assert all(received(sqs, queue) == [] for queue in queues.values())


def test_poll_stop_and_look_after_messages_say_what_to_do(sqs, queues):
    sending = trigger(queues, sqs)

    sending.request_poll("on-modal")
    sending.request_stop("on-ecs", "arn:cluster|arn:task")
    sending.request_dispatch("managed", look_after=True)

    assert received(sqs, queues[Family.MODAL]) == [{"pool": "on-modal", "kind": "poll"}]
    assert received(sqs, queues[Family.AWS]) == [
        {"pool": "on-ecs", "kind": "stop", "infra_id": "arn:cluster|arn:task"},
        {"pool": "managed", "kind": "dispatch", "look_after": True},
    ]


def test_a_switched_off_family_gets_nothing_and_the_log_says_how_to_switch_it_on(
    sqs, queues, caplog
):
    without_gcp = {f: url for f, url in queues.items() if f is not Family.GCP}
    sending = trigger(without_gcp, sqs)

    with caplog.at_level(logging.WARNING, logger="pushpool.sqs"):
        sending.request_dispatch("on-cloud-run-v2")

    assert "EnableGcp" in caplog.text
    assert all(received(sqs, queue) == [] for queue in queues.values())


def test_the_tick_sends_its_messages_in_batches_of_ten(sqs, queues):
    sending = trigger(queues, sqs)
    overdue = [NOW - timedelta(seconds=s) for s in range(23)]  # no delay

    sent = sending.send([DispatchMessage(pool="on-ecs", not_before=at) for at in overdue])

    assert sent == 23
    assert len(received(sqs, queues[Family.AWS])) == 23


def test_a_message_for_later_arrives_within_a_second_before_its_time_and_one_beyond_15_minutes_is_not_sent():
    client = boto3.client(
        "sqs", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-dispatch"
    due = NOW + timedelta(seconds=12, milliseconds=300)
    body = DispatchMessage(pool="on-ecs", not_before=due).body()
    with Stubber(client) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "m-0", "MD5OfMessageBody": "x"}],
                "Failed": [],
            },
            expected_params={
                "QueueUrl": queue,
                "Entries": [{"Id": "0", "MessageBody": body, "DelaySeconds": 12}],
            },
        )
        sending = trigger({Family.AWS: queue}, client)

        sending.request_dispatch("on-ecs", not_before=due)
        sending.request_dispatch("on-ecs", not_before=NOW + timedelta(minutes=15, seconds=2))

        stub.assert_no_pending_responses()


def test_a_message_that_cannot_be_sent_is_logged_not_raised(caplog):
    client = boto3.client(
        "sqs", region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t"
    )
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/pushpool-dispatch"
    with Stubber(client) as stub, caplog.at_level(logging.WARNING, logger="pushpool.sqs"):
        stub.add_client_error("send_message_batch", service_error_code="AccessDenied")
        trigger({Family.AWS: queue}, client).request_dispatch("on-ecs")

    assert "not sent" in caplog.text and "AccessDenied" in caplog.text


def test_delays_are_whole_seconds_and_past_times_are_now():
    assert delay_seconds(None, now=NOW) == 0
    assert delay_seconds(NOW - timedelta(seconds=5), now=NOW) == 0
    assert delay_seconds(NOW + timedelta(seconds=901), now=NOW) == 900
    assert delay_seconds(NOW + timedelta(seconds=901, milliseconds=1), now=NOW) is None


def test_a_delay_ends_within_the_admission_window_before_its_time_never_after_it():
    """A tick at a fraction of a second: rounding up made every message late
    by that fraction; now it comes when its runs enter the admission window."""
    for fraction_ms in (0, 1, 300, 999):
        sent = NOW + timedelta(milliseconds=fraction_ms)
        for not_before in (NOW + timedelta(seconds=1), NOW + timedelta(seconds=37)):
            arrives = sent + timedelta(seconds=delay_seconds(not_before, now=sent) or 0)
            assert not_before - DEFAULT_WINDOW <= arrives < not_before


def test_families_follow_the_provider_module_of_each_type():
    assert {t: family_of(t) for t in REGISTRY.known()} == {
        "process": None,
        "docker": None,
        "kubernetes": None,
        "ecs": Family.AWS,
        "ecs:push": Family.AWS,
        "managed": Family.AWS,
        "cloud-run": Family.GCP,
        "cloud-run-v2": Family.GCP,
        "cloud-run:push": Family.GCP,
        "cloud-run-v2:push": Family.GCP,
        "vertex-ai": Family.GCP,
        "azure-container-instance": Family.AZURE,
        "azure-container-instance:push": Family.AZURE,
        "modal:push": Family.MODAL,
    }
