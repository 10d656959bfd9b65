"""Prices and what each function's invocations cost: shared by the cost model's scenarios.

``price_invocations`` turns counted invocations (``tests.bench.lifecycle``)
into dollars by service, for a ``Configuration`` of the stack (before issue
16, or as template.yaml deploys it now), at the list prices of
``prices.json``; ``money`` makes them figures per million runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench.harness import ROOT, Figure
from tests.bench.lambda_sizing import Sizing, template_memory
from tests.bench.lifecycle import Invocation, every_event

PRICES = Path(__file__).with_name("prices.json")
MILLION = 1_000_000


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def unit_price(prices: dict[str, Any], key: str) -> float:
    entry = prices["prices"][key]
    return float(entry["usd"]) / float(entry["per"])


@dataclass(frozen=True)
class Configuration:
    """What the stack deploys that the bill depends on: kept for the state
    before issue 16 so before and after are computed in the same run."""

    label: str
    architecture: str  # arm64 | x86_64
    forwarded: Callable[[str, str], bool]  # which ECS task changes reach infra_events
    # Secrets Manager secrets and SSM parameters holding the admin token and run-token key
    stack_secrets: tuple[int, int] = (0, 2)
    system_logs: bool = False  # Lambda's START/END/REPORT lines reach CloudWatch Logs
    memory: Callable[[str], int] = template_memory  # each function's MB


def stack_rule(last_status: str, desired_status: str) -> bool:
    """Whether the stack's EventBridge rule forwards a pushpool task's change
    (the pattern template.yaml and infra/ share), matched by moto's EventBridge."""
    from moto.events.models import EventPattern

    event = {
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "detail": {
            "startedBy": "pushpool/run",
            "lastStatus": last_status,
            "desiredStatus": desired_status,
        },
    }
    return bool(EventPattern.load(ECS_RULE.read_text()).matches_event(event))


def template_architecture(template: Path = ROOT / "template.yaml") -> str:
    """The functions' default architecture (the LambdaArchitecture parameter)."""
    found = re.search(
        r"^  LambdaArchitecture:\n(?:    .*\n)*?    Default: (\w+)", template.read_text(), re.M
    )
    return found.group(1) if found else "x86_64"


def template_stack_secrets(template: Path = ROOT / "template.yaml") -> tuple[int, int]:
    """Secrets Manager secrets every stack keeps (not a family's, made only when the
    family is enabled) and SSM parameters the functions are named, as template.yaml says."""
    text = template.read_text()
    secrets = re.findall(
        r"^  \w+:\n    Type: AWS::SecretsManager::Secret\n(?!    Condition:)", text, re.M
    )
    parameters = set(re.findall(r"PUSHPOOL_\w+_PARAMETER: (.+)$", text, re.M))
    return len(secrets), len(parameters)


def template_system_logs(template: Path = ROOT / "template.yaml") -> bool:
    """Whether Lambda's own INFO lines are logged: not when the functions'
    LoggingConfig sets SystemLogLevel to WARN."""
    return re.search(r"^\s+SystemLogLevel:\s*WARN\b", template.read_text(), re.M) is None


# The INFO lines and EMF metric lines each handler writes per invocation
# (counted in handlers/): a dispatch pass logs its summary and flushes its
# metrics, an infra event logs the change, a tick logs its summary; the API
# logs nothing at INFO.
APPLICATION_LINES = {"dispatch": (1, 1), "infra_events": (1, 0), "tick": (1, 0), "api": (0, 0)}

ECS_RULE = ROOT / "infra" / "modules" / "pushpool" / "ecs_task_events.json"


def before_memory(function: str) -> int:
    return 512  # every function, as template.yaml's Globals set it before issue 16


BEFORE = Configuration(
    "before", "x86_64", every_event, stack_secrets=(2, 0), system_logs=True, memory=before_memory
)
AFTER = Configuration(
    "after",
    template_architecture(),
    stack_rule,
    template_stack_secrets(),
    system_logs=template_system_logs(),
)


def log_bytes(invocation: Invocation, options: dict[str, Any], system_logs: bool) -> float:
    lines, emf = APPLICATION_LINES[invocation.function]
    written = lines * float(options["line_bytes"]) + emf * float(options["emf_bytes"])
    return written + (float(options["system_log_bytes"]) if system_logs else 0.0)


def price_invocations(
    invocations: list[Invocation],
    options: dict[str, Any],
    prices: dict[str, Any],
    config: Configuration,
    sizing: Sizing,
) -> dict[str, float]:
    """Dollars for these invocations, by service."""
    architecture, system_logs = config.architecture, config.system_logs
    gb_seconds = sum(
        sizing.billed_ms(i, config.memory(i.function), options)
        / 1000
        * config.memory(i.function)
        / 1024
        for i in invocations
    )
    reads = sum(i.dynamodb.rcu for i in invocations)
    writes = sum(i.dynamodb.wcu + i.dynamodb.index_wcu for i in invocations)
    # each message: SendMessage, then the event source's ReceiveMessage and DeleteMessage
    sqs = 3 * sum(i.sqs_sent for i in invocations)
    api = sum(1 for i in invocations if i.function == "api")
    logs_gb = sum(log_bytes(i, options, system_logs) for i in invocations) / 1e9
    return {
        "Lambda requests": len(invocations) * unit_price(prices, "lambda_request"),
        "Lambda GB-seconds": gb_seconds * unit_price(prices, f"lambda_gb_second_{architecture}"),
        "DynamoDB reads": reads * unit_price(prices, "dynamodb_read_request_unit"),
        "DynamoDB writes": writes * unit_price(prices, "dynamodb_write_request_unit"),
        "SQS": sqs * unit_price(prices, "sqs_request"),
        "API Gateway": api * unit_price(prices, "api_gateway_http_request"),
        "EventBridge (ECS events)": 0.0,
        "CloudWatch Logs": logs_gb * unit_price(prices, "cloudwatch_logs_ingestion"),
    }


def money(per_run: list[dict[str, float]], month: dict[str, float], label: str) -> list[Figure]:
    """Dollars per million runs (one sample per counted lifecycle) and per idle month."""
    return [
        *per_million(per_run, label),
        Figure.exact(f"{label}: $ per idle month", sum(month.values()), unit="USD"),
        *[
            Figure.exact(f"  of which {service}", value, unit="USD")
            for service, value in month.items()
            if value
        ],
    ]


def per_million(per_run: list[dict[str, float]], label: str) -> list[Figure]:
    """Dollars per million runs, one sample per counted run or window, by service."""
    return [
        Figure.of(
            f"{label}: $ per million runs",
            [sum(c.values()) * MILLION for c in per_run],
            unit="USD",
        ),
        *[
            Figure.of(f"  of which {service}", [c[service] * MILLION for c in per_run], unit="USD")
            for service in per_run[-1]
            if per_run[-1][service]
        ],
    ]
