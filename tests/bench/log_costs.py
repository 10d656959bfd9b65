"""What run log lines and the stack's alarms cost (docs/performance.md, "Cost of logs").

Log lines: a real ``DynamoStore`` on moto stores lines through
``append_logs`` and reads them back as ``flow-run logs`` does; every request
is counted with botocore's event hooks and write units are computed from the
items' real sizes.  The HTTP side is computed from the shipper's batch size
(one ``POST /logs/`` and one API Lambda invocation per batch).  Prices come
from ``prices.json``.  The observability floor is fixed per month: the
custom metrics the functions emit, the alarm metrics and the dashboard.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.harness import Benchmark, Figure, Option, Result, fake_aws_environment

MILLION = 1_000_000
CUSTOM_METRICS = 9  # 4 run counts, latency, provider errors x2, infra crashes, tick
ALARM_METRICS = 8  # DLQ 1, handler errors 4 (metric math), crashed 1, latency 1, tick 1


def _measure(lines: int, message_chars: int) -> dict[str, float]:
    import boto3

    from core.logs import new_line
    from core.store.dynamodb.logs import _item
    from core.store.dynamodb.schema import create_table
    from core.store.dynamodb.store import DynamoStore

    client = boto3.client("dynamodb")
    create_table(client, "logs-bench")
    calls: dict[str, int] = {}
    client.meta.events.register(
        "before-call.dynamodb",
        lambda model, **_: calls.__setitem__(model.name, calls.get(model.name, 0) + 1),
    )
    store = DynamoStore("logs-bench", client=client)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = [
        new_line(
            flow_run_id="run-1", timestamp=start + timedelta(milliseconds=i),
            message="x" * message_chars, seq=i,
        )
        for i in range(lines)
    ]  # fmt: skip
    store.append_logs(batch)
    writes = dict(calls)
    calls.clear()
    read, cursor = 0, None
    while page := store.read_logs("run-1", after=cursor, limit=1000):
        read += len(page)
        cursor = page[-1].key
    item = _item(batch[0], {"N": "0"})
    size = sum(len(k) + len(str(next(iter(v.values())))) for k, v in item.items())
    return {
        "write_requests": writes.get("BatchWriteItem", 0),
        "read_requests": calls.get("Query", 0),
        "item_bytes": size,
        "read_back": read,
    }


def run_log_cost(options: dict[str, Any]) -> Result:
    from moto import mock_aws

    from tests.bench.pricing import load_prices, unit_price

    prices = load_prices()
    lines, chars = int(options["lines"]), int(options["message_chars"])
    with fake_aws_environment(), mock_aws():
        counted = _measure(lines, chars)
    wcu_per_line = math.ceil(counted["item_bytes"] / 1024)
    rcu_per_line = counted["item_bytes"] / 4096  # strongly consistent: 1 RCU per 4 KB read
    batches = MILLION / float(options["batch_lines"])
    gb_seconds = batches * float(options["api_ms"]) / 1000 * 0.5
    per_million = {
        "DynamoDB writes": MILLION
        * wcu_per_line
        * unit_price(prices, "dynamodb_write_request_unit"),
        "DynamoDB reads (each line read once)": MILLION
        * rcu_per_line
        * unit_price(prices, "dynamodb_read_request_unit"),
        "API Gateway": batches * unit_price(prices, "api_gateway_http_request"),
        "Lambda": batches * unit_price(prices, "lambda_request")
        + gb_seconds * unit_price(prices, "lambda_gb_second_x86_64"),
        "DynamoDB storage for the retention": MILLION
        * counted["item_bytes"]
        / 1e9
        * float(options["retention_days"])
        / 30
        * unit_price(prices, "dynamodb_storage"),
    }
    floor = {
        "custom metrics": CUSTOM_METRICS * unit_price(prices, "cloudwatch_custom_metric"),
        "alarms": ALARM_METRICS * unit_price(prices, "cloudwatch_alarm_metric"),
        "dashboard (beyond the free 3)": unit_price(prices, "cloudwatch_dashboard"),
    }
    figures = [
        Figure.exact("$ per million log lines", sum(per_million.values()), unit="USD"),
        *[Figure.exact(f"  of which {k}", v, unit="USD") for k, v in per_million.items()],
        Figure.exact("DynamoDB item per line", counted["item_bytes"], unit="bytes"),
        Figure.exact(
            f"BatchWriteItem requests for {lines} lines", counted["write_requests"], unit="requests"
        ),
        Figure.exact(
            f"Query requests to read {counted['read_back']:.0f} lines back",
            counted["read_requests"],
            unit="requests",
        ),
        Figure.exact("$ per month for metrics, alarms, dashboard", sum(floor.values()), unit="USD"),
        *[Figure.exact(f"  of which {k}", v, unit="USD") for k, v in floor.items()],
    ]
    return Result(
        name="log_cost",
        title="run log lines and observability, in dollars (AWS on-demand)",
        repetitions=f"{lines} lines of {chars} characters stored and read back on moto; "
        f"prices {prices['region']} as of {prices['as_of']}",
        figures=figures,
        notes=[
            f"one POST /logs/ of {options['batch_lines']} lines = one API Lambda invocation of "
            f"{options['api_ms']} ms at 512 MB (assumption)",
            "EMF metric lines are part of the functions' CloudWatch Logs ingestion, priced in "
            "cost_model; CloudWatch Logs GetLogEvents for ECS runs is not counted",
        ],
    )


BENCHMARKS = [
    Benchmark(
        name="log_cost",
        title="$ per million run log lines and per month of alarms/metrics",
        run=run_log_cost,
        options=(
            Option("lines", 500, 2000, "log lines stored and read back"),
            Option("message_chars", 120, 120, "characters per line"),
            Option("batch_lines", 200, 200, "lines per POST /logs/ (the shipper's batch)"),
            Option("api_ms", 40.0, 40.0, "API Lambda time per batch"),
            Option("retention_days", 30, 30, "days DynamoDB keeps a line"),
        ),
    ),
]
