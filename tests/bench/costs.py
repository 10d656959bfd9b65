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

from collections import Counter
from typing import Any

from tests.bench import lambda_sizing, scenarios
from tests.bench.harness import ROOT, Benchmark, Figure, Option, Result, fake_aws_environment
from tests.bench.lambda_sizing import LOGICAL_IDS, Sizing, measure
from tests.bench.lifecycle import ECS_EVENTS, Invocation, Lifecycle, reads_table
from tests.bench.pricing import (
    AFTER,
    BEFORE,
    ECS_RULE,
    PRICES,
    Configuration,
    load_prices,
    money,
    price_invocations,
    unit_price,
)

MINUTES_PER_MONTH = 30 * 24 * 60


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
            Figure.exact("table write units", wcu, unit="WCU", note="minimum 11"),
            Figure.exact("index write units", index_wcu, unit="WCU", note="floor 2"),
            Figure.exact("largest run item", max(sizes.values()), unit="bytes"),
        ],
        notes=[
            "docs/storage.md: 5 requests and 11 table WCU are the floor; 9 index WCU "
            "buy the read paths (floor 2)"
        ],
        text=store_cost.report(meter, sizes),
    )


# -- the cost model -------------------------------------------------------------------------------


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

    scenarios.check(options)
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
    scheduled, cents = scheduled_cost(options, prices, sizing)
    figures += scheduled
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
            scenarios.NOTE.format(**options),
        ],
        text=sizing_report(sizing, lives[-1], tick, options, prices)
        + "\n\n"
        + reads_table(lives[-1])
        + "\n\n"
        + cents,
    )
    result.params["prices"] = str(PRICES.relative_to(ROOT))
    return result


def scheduled_cost(
    options: dict[str, Any], prices: dict[str, Any], sizing: Sizing
) -> tuple[list[Figure], str]:
    """The scheduled scenario (after), its CPU measured apart so the created-now figures
    and their sizing stay as they were."""
    own = Sizing(warm_cpu_ms=dict(sizing.warm_cpu_ms), start=sizing.start)
    scenarios.measure_cpu(own, options, AFTER.forwarded)

    def price(invocations: list[Invocation]) -> dict[str, float]:
        return price_invocations(invocations, options, prices, AFTER, own)

    return scenarios.scheduled_figures(options, price, AFTER.forwarded, own.cpu_ms)


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
            Option("scheduled_k", "1,10", "1,10", "scheduled: runs due together (k deployments)"),
            Option("run_minutes", 5, 5, "scheduled: minutes a run holds its slot"),
            Option("tick_second", 30, 30, "scheduled: the tick's second past each minute"),
            Option("start_seconds", 40, 40, "scheduled: RunTask → the task RUNNING"),
            Option("scheduled_cycles", 1, 3, "scheduled: materialisation cycles counted"),
            Option("describe_ms", 60.0, 60.0, "one ECS DescribeTasks call (a poll)"),
        ),
    ),
]
