"""Store cost per run lifecycle, and dollars per million runs and per idle month.

``store_cost`` wraps ``tests.bench.store_cost`` (the DynamoDB engineer's
measurement of one run's life against docs/storage.md's minimum) as figures.

``cost_model`` prices what ``tests.bench.lifecycle`` counts: every Lambda
invocation of a run created "now" through the API on an ``ecs:push`` pool,
to COMPLETED (API, dispatch passes, one ECS event each, the flow's own
RUNNING/COMPLETED reports), with the DynamoDB requests and units each made
and the dispatch messages each sent.  Prices come from ``prices.json``
(on-demand list prices, with their date and region).  What cannot be
counted here is an option with a stated default: how long a DynamoDB or SQS
request or an ECS ``RunTask`` takes inside a Lambda (duration is billed),
how many ECS events a task sends, and how many pollers Lambda keeps on an
empty SQS queue.  The rest of the billed duration, each invocation's CPU
time, is measured (``tests.bench.lambda_sizing``) and scaled to each
function's memory in template.yaml.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.bench import lambda_sizing
from tests.bench.harness import ROOT, Benchmark, Figure, Option, Result, fake_aws_environment
from tests.bench.lambda_sizing import LOGICAL_IDS, Sizing, measure, template_memory
from tests.bench.lifecycle import ECS_EVENTS, Invocation, Lifecycle, every_event, reads_table

PRICES = Path(__file__).with_name("prices.json")
MINUTES_PER_MONTH = 30 * 24 * 60
MILLION = 1_000_000


# -- store cost -------------------------------------------------------------------------------


def run_store_cost(_: dict[str, Any]) -> Result:
    from moto import mock_aws

    from tests.bench import store_cost

    with fake_aws_environment(), mock_aws():
        meter, sizes = store_cost.measure_run_life()
    life = [meter.steps[s] for s in store_cost.LIFE]
    requests = sum(t.request_count for t in life)
    wcu = sum(t.wcu for t in life)
    index_wcu = sum(t.index_wcu for t in life)
    return Result(
        name="store_cost",
        title="DynamoDB requests and units per run lifecycle",
        repetitions="one lifecycle, counted exactly (moto; units computed from item sizes)",
        figures=[
            Figure.exact(
                "requests, create → complete",
                requests,
                unit="requests",
                note="minimum 5 (docs/storage.md)",
            ),
            Figure.exact("table write units", wcu, unit="WCU", note="minimum 15"),
            Figure.exact("index write units", index_wcu, unit="WCU", note="floor 2"),
            Figure.exact("largest run item", max(sizes.values()), unit="bytes"),
        ],
        notes=[
            "docs/storage.md: 5 requests and 15 table WCU are the floor; 9 index WCU "
            "buy the read paths (floor 2)"
        ],
        text=store_cost.report(meter, sizes),
    )


# -- the cost model -------------------------------------------------------------------------------


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


def idle_month(
    tick: Invocation,
    options: dict[str, Any],
    prices: dict[str, Any],
    config: Configuration,
    sizing: Sizing,
) -> dict[str, float]:
    per_tick = price_invocations([tick], options, prices, config, sizing)
    costs = {k: v * MINUTES_PER_MONTH for k, v in per_tick.items() if k != "API Gateway"}
    costs["EventBridge Scheduler"] = MINUTES_PER_MONTH * unit_price(
        prices, "eventbridge_scheduler_invocation"
    )
    # Long polls of 20 s by each poller Lambda keeps on an empty queue.
    receives = (
        int(options["dispatch_queues"]) * int(options["idle_pollers"]) * 3 * MINUTES_PER_MONTH
    )
    costs["SQS"] = costs.get("SQS", 0.0) + receives * unit_price(prices, "sqs_request")
    secrets, parameters = config.stack_secrets
    secrets += int(options["secrets"]) - 2  # the enabled families' credentials secrets
    costs["Secrets Manager"] = secrets * unit_price(prices, "secrets_manager_secret")
    # Standard-tier SecureStrings under the free aws/ssm key: $0 a month.  Reading one is a
    # KMS Decrypt, but an idle stack reads none (the tick needs neither the admin token nor
    # the run-token key); the API and dispatch functions read them once per cold start.
    costs["SSM Parameter Store"] = parameters * (
        unit_price(prices, "ssm_standard_parameter") + unit_price(prices, "kms_aws_managed_key")
    )
    return costs


def run_cost_model(options: dict[str, Any]) -> Result:
    from moto import mock_aws

    prices = load_prices()
    sizing = measure(
        (BEFORE.forwarded, AFTER.forwarded),
        int(options["cpu_lifecycles"]),
        int(options["run_reports"]),
    )
    figures: list[Figure] = []
    events: dict[str, int] = {}
    lives: list[list[Invocation]] = []
    for config in (BEFORE, AFTER):
        with fake_aws_environment(), mock_aws():
            lives, tick = count_lifecycles(options, config)
        per_run = [price_invocations(life, options, prices, config, sizing) for life in lives]
        month = idle_month(tick, options, prices, config, sizing)
        figures += money(per_run, month, config.label)
        figures += counts(lives[-1], tick, config.label)
        events[config.label] = len(lifecycle_events(lives[-1]))
    figures += lambda_sizing.figures(sizing, lives[-1], options, AFTER.memory)
    result = Result(
        name="cost_model",
        title="dollars per million runs and per idle month (AWS on-demand), before and after",
        repetitions=f"{options['runs']} run lifecycles per configuration counted on moto; "
        f"prices {prices['region']}, as of {prices['as_of']}",
        figures=figures,
        notes=[
            f"before: x86_64 and every ECS task-state change forwarded; after: "
            f"{AFTER.architecture} (template.yaml's LambdaArchitecture) and the stack's rule "
            f"({ECS_RULE.relative_to(ROOT)}); ECS events reaching infra_events per run "
            f"{events['before']} → {events['after']} (Fargate sends {len(ECS_EVENTS)})",
            "Lambda memory per function: before 512 MB each; after "
            + ", ".join(f"{f} {AFTER.memory(f)} MB" for f in LOGICAL_IDS)
            + " (template.yaml); billed duration = measured CPU * 1769 / MB (below 1,769 MB, "
            "this machine's core taken as one Lambda vCPU) + waits: "
            f"{options['dynamodb_ms']} ms per DynamoDB request + {options['sqs_ms']} ms per SQS "
            f"send + {options['runtask_ms']} ms per RunTask (assumptions: options)",
            f"CPU: {options['cpu_lifecycles']} warm lifecycles per configuration with each "
            "function in a worker process of its own against a moto server in another process "
            "(time.process_time per invocation; moto's CPU is not in it)",
            f"{options['run_reports']} state reports by the flow itself over the API",
            f"log bytes per invocation: the handler's own lines ({options['line_bytes']} B "
            f"each, a dispatch pass also one {options['emf_bytes']} B EMF line) plus "
            f"Lambda's START/END/REPORT ({options['system_log_bytes']} B) unless "
            "SystemLogLevel is WARN (before: logged; after: "
            f"{'logged' if AFTER.system_logs else 'not logged, template.yaml LoggingConfig'})",
            "idle month: the tick every minute on an idle stack (one pool, one deployment), "
            f"{options['idle_pollers']} Lambda pollers long-polling each of "
            f"{options['dispatch_queues']} dispatch queue(s); the admin token and run-token "
            f"key: Secrets Manager secrets, parameters before {BEFORE.stack_secrets}, after "
            f"{AFTER.stack_secrets} (SSM SecureStrings, standard tier: $0; KMS $0.03 per "
            "10,000 reads, none when idle); free tiers not subtracted (Lambda's alone would "
            "cover the idle month)",
            "not counted: the tasks themselves (ECS Fargate), NAT/data transfer, X-Ray traces",
        ],
        text=sizing_report(sizing, lives[-1], tick, options, prices)
        + "\n\n"
        + reads_table(lives[-1]),
    )
    result.params["prices"] = str(PRICES.relative_to(ROOT))
    return result


def sizing_report(
    sizing: Sizing,
    life: list[Invocation],
    tick: Invocation,
    options: dict[str, Any],
    prices: dict[str, Any],
) -> str:
    usd = unit_price(prices, f"lambda_gb_second_{AFTER.architecture}")
    return lambda_sizing.report(
        sizing, life, tick=tick, options=options, gb_second_usd=usd, memory=AFTER.memory
    )


def count_lifecycles(
    options: dict[str, Any], config: Configuration
) -> tuple[list[list[Invocation]], Invocation]:
    """``runs`` counted lifecycles and one idle tick, on a fresh moto account."""
    lifecycle = Lifecycle(run_reports=int(options["run_reports"]), forwarded=config.forwarded)
    deployment_id = lifecycle.setup()
    lives = [lifecycle.one_run(deployment_id) for _ in range(int(options["runs"]))]
    idle = Lifecycle(run_reports=0, table="idle")
    idle.setup()
    return lives, idle.idle_tick()


def money(per_run: list[dict[str, float]], month: dict[str, float], label: str) -> list[Figure]:
    """Dollars per million runs (one sample per counted lifecycle) and per idle month."""
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
        Figure.exact(f"{label}: $ per idle month", sum(month.values()), unit="USD"),
        *[
            Figure.exact(f"  of which {service}", value, unit="USD")
            for service, value in month.items()
            if value
        ],
    ]


def counts(life: list[Invocation], tick: Invocation, label: str) -> list[Figure]:
    """What one run's life and one idle tick were counted to cost, in requests and units."""
    functions = Counter(i.function for i in life)
    return [
        *[
            Figure.exact(f"{label}: invocations per run: {name}", count, unit="calls")
            for name, count in sorted(functions.items())
        ],
        Figure.exact(
            f"{label}: DynamoDB requests per run",
            sum(i.dynamodb.request_count for i in life),
            unit="requests",
        ),
        Figure.exact(
            f"{label}: DynamoDB read units per run", sum(i.dynamodb.rcu for i in life), unit="RRU"
        ),
        Figure.exact(
            f"{label}: DynamoDB write units per run",
            sum(i.dynamodb.wcu + i.dynamodb.index_wcu for i in life),
            unit="WRU",
        ),
        Figure.exact(
            f"{label}: SQS messages per run", sum(i.sqs_sent for i in life), unit="messages"
        ),
        Figure.exact(
            f"{label}: DynamoDB requests per idle tick",
            tick.dynamodb.request_count,
            unit="requests",
        ),
    ]


def lifecycle_events(invocations: list[Invocation]) -> list[Invocation]:
    return [i for i in invocations if i.function == "infra_events"]


BENCHMARKS = [
    Benchmark(
        name="store_cost",
        title="DynamoDB requests and units per run lifecycle (tests/bench/store_cost.py)",
        run=run_store_cost,
    ),
    Benchmark(
        name="cost_model",
        title="$ per million runs and per idle month, from counted requests",
        run=run_cost_model,
        options=(
            Option("runs", 5, 20, "run lifecycles to count"),
            Option("run_reports", 2, 2, "states the flow reports itself (0-2)"),
            Option("cpu_lifecycles", 5, 20, "warm lifecycles measured for CPU per configuration"),
            Option("sqs_delivery_ms", 30.0, 30.0, "SQS message → dispatch invocation"),
            Option("dynamodb_ms", 6.0, 6.0, "one DynamoDB request from Lambda"),
            Option("sqs_ms", 10.0, 10.0, "one SQS SendMessage from Lambda"),
            Option("runtask_ms", 250.0, 250.0, "one ECS RunTask call"),
            Option("system_log_bytes", 360, 360, "Lambda's START, END, REPORT lines"),
            Option("line_bytes", 330, 330, "one JSON log line of a handler"),
            Option("emf_bytes", 450, 450, "one EMF metrics line (a dispatch pass)"),
            Option("idle_pollers", 5, 5, "Lambda pollers per empty SQS queue"),
            Option("dispatch_queues", 1, 1, "dispatch queues (1 + enabled families)"),
            Option("secrets", 2, 2, "2 + enabled families (their Secrets Manager secrets)"),
        ),
    ),
]
