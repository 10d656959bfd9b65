"""Cold start: import time of each Lambda handler module, as a ratio to ``import boto3``.

Each module is imported in a fresh interpreter under ``python -X importtime``;
its import cost is the sum of every module's own time, minus the same sum
for an interpreter that imports nothing (start-up modules are in both).
The modules are those ``template.yaml`` names as handlers; one not written
yet is reported as missing.  Each run also says which cloud SDKs the
module pulled in: an ECS-only function must not load Google's, Azure's or
Modal's (design §1).
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from tests.bench.harness import ROOT, Benchmark, Figure, Option, Result

HANDLERS = ("handlers.api", "handlers.tick", "handlers.dispatch", "handlers.infra_events")
SDKS = ("boto3", "botocore", "google", "azure", "modal", "docker", "kubernetes")


# The API's first request, as far as imports go: boto3 and the DynamoDB store
# (what the Lambda's first request loads), then one validated request through
# the resolver (a body, a store read).  The store is SQLite here so nothing
# calls AWS; sqlite3's few modules are counted although Lambda does not load them.
FIRST_REQUEST = """
import json, boto3, handlers.api, core.store.dynamodb.store
from handlers.api.app import handle
from handlers.bootstrap import bootstrap
event = json.load(open("tests/events/api_gateway_http_request.json"))
event["rawPath"] = event["requestContext"]["http"]["path"] = "/api/work_pools/filter"
event["requestContext"]["http"]["method"] = "POST"
event["body"], event["isBase64Encoded"] = json.dumps({"limit": 5}), False
answer = handle(event, None, container=bootstrap())
assert answer["statusCode"] == 200, answer
"""


def import_profile(statement: str, env: dict[str, str] | None = None) -> tuple[float, set[str]]:
    """Milliseconds of import time summed over modules, and top-level packages loaded."""
    env = {**os.environ, **(env or {}), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed: {done.stderr.strip().splitlines()[-1]}")
    total_us = 0
    packages: set[str] = set()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|", 2)
        total_us += int(own)
        packages.add(name.strip().split(".")[0])
    return total_us / 1000, packages


def measure(
    statement: str, reps: int, baseline: float, env: dict[str, str] | None = None
) -> tuple[list[float], set[str]]:
    samples, packages = [], set()
    for _ in range(reps):
        ms, packages = import_profile(statement, env)
        samples.append(max(ms - baseline, 0.0))
    return samples, packages


def run(options: dict[str, Any]) -> Result:
    reps = int(options["repetitions"])
    baseline = statistics.median(import_profile("pass")[0] for _ in range(reps))
    boto3_ms, _ = measure("import boto3", reps, baseline)
    reference = statistics.median(boto3_ms)
    result = Result(
        name="cold_start",
        title="handler import time (python -X importtime), ratio to import boto3",
        repetitions=f"{reps} fresh interpreters per module, median",
        figures=[Figure.of("import boto3", boto3_ms, unit="ms")],
    )
    missing = []
    for module in HANDLERS:
        if importlib.util.find_spec(module) is None:
            missing.append(module)
            continue
        samples, packages = measure(f"import {module}", reps, baseline)
        ratios = [s / reference for s in samples]
        sdks = sorted(packages & set(SDKS))
        result.figures += [
            Figure.of(f"import {module}", samples, unit="ms"),
            Figure.of(f"{module} / boto3", ratios, unit="x", note=", ".join(sdks)),
        ]
        result.notes.append(f"{module} loads: {', '.join(sdks) or 'no cloud SDK'}")
        # boto3 and the DynamoDB store are imported lazily, on the first request
        with_store, _ = measure(f"import {module}, core.store.dynamodb.store", reps, baseline)
        result.figures.append(
            Figure.of(
                f"{module} + DynamoDB store / boto3", [w / reference for w in with_store], unit="x"
            )
        )
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PUSHPOOL_STORE": f"sqlite:///{tmp}/bench.db", "PUSHPOOL_AUTH": "off"}
        first, _ = measure(FIRST_REQUEST, reps, baseline, env)
    result.figures.append(
        Figure.of(
            "handlers.api + boto3 + first request / boto3",
            [f / reference for f in first],
            unit="x",
            note="imports only; boto3 itself is 1x",
        )
    )
    if missing:
        result.notes.append(f"not on this branch yet: {', '.join(missing)}")
    result.notes.append(
        "import time is summed over modules (each module's own time), minus an interpreter "
        "that imports nothing; Lambda's init also includes the runtime's start"
    )
    return result


BENCHMARKS = [
    Benchmark(
        name="cold_start",
        title="Lambda handler module import time vs import boto3",
        run=run,
        options=(Option("repetitions", 5, 15, "fresh interpreters per module"),),
    )
]
