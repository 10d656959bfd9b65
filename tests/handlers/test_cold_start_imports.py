"""What a cold start loads: importing a Lambda handler module must not load
the heavy libraries its first requests may never need (issue 16,
docs/performance.md "Cold start").  Counts modules, not time: each handler is
imported in a fresh interpreter, off Lambda (so tracing is off, as
Powertools decides), and the modules it added are compared with a list.

* the X-Ray SDK (and with it botocore's session and client machinery):
  only where tracing is on;
* jsonschema: only where a template or job variables are validated;
* boto3: on the first store or queue call;
* Powertools' OpenAPI models: only for ``/api/openapi.json`` and ``/api/docs``;
* any Google module beyond the empty ``google`` namespace package that
  google-cloud-aiplatform's ``*-nspkg.pth`` creates at interpreter start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("handlers.api", "handlers.dispatch", "handlers.tick", "handlers.infra_events")
HEAVY = (
    "aws_xray_sdk",
    "jsonschema",
    "boto3",
    "botocore.session",
    "botocore.client",
    "aws_lambda_powertools.event_handler.openapi.models",
    "google",
)
PROBE = """
import json, sys
startup = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - startup)))
"""


def modules_added_by_importing(module: str, **extra_env: str) -> list[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PUSHPOOL_", "AWS_", "LAMBDA_", "POWERTOOLS_"))
    } | extra_env
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    added: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return added


@pytest.mark.parametrize("module", HANDLERS)
def test_importing_a_handler_loads_none_of_the_heavy_libraries(module: str):
    added = modules_added_by_importing(module)

    assert module in added  # the probe really imported it
    heavy = sorted(
        name for name in added if any(name == h or name.startswith(f"{h}.") for h in HEAVY)
    )
    assert heavy == []


@pytest.mark.parametrize(
    ("trace_disabled", "xray_loaded"), [("", True), ("false", True), ("true", False)]
)
def test_on_lambda_the_xray_sdk_is_loaded_unless_powertools_tracing_is_disabled(
    trace_disabled: str, xray_loaded: bool
):
    env = {"LAMBDA_TASK_ROOT": "/var/task"}
    if trace_disabled:
        env["POWERTOOLS_TRACE_DISABLED"] = trace_disabled
    added = modules_added_by_importing("handlers.dispatch", **env)

    assert ("aws_xray_sdk" in added) is xray_loaded


def test_the_api_docs_and_openapi_document_load_the_openapi_models_on_request():
    probe = """
import json, sys
import handlers.api
M = "aws_lambda_powertools.event_handler.openapi.models"
before = M in sys.modules
from handlers.api.app import _openapi_json, swagger_ui
spec = json.loads(_openapi_json())
page = swagger_ui().body
print(json.dumps([before, M in sys.modules, sorted(spec["components"]["securitySchemes"]),
                  "SwaggerUIBundle" in page]))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before, after, schemes, has_ui = json.loads(done.stdout.strip().splitlines()[-1])
    assert (before, after, schemes, has_ui) == (False, True, ["bearer"], True)
