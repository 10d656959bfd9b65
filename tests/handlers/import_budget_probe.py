"""Run in a fresh interpreter by ``test_import_budget.py``: import the Lambda
handler modules, serve an ECS push pool through them (a dispatch pass that
calls RunTask on moto, an ECS event, a tick), and print as JSON which
forbidden top-level packages ended up in ``sys.modules`` and when.

A module of its own (not ``python -c``) so the probe is readable and
linted like the rest; it must stay free of imports that would pollute the
measurement (no pytest, no SDK helpers).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

FORBIDDEN = ("google", "azure", "modal", "typer", "rich", "uvicorn")
# What the interpreter held before pushpool code ran: a ``*-nspkg.pth`` file
# (google-cloud-aiplatform ships one) creates the empty ``google`` namespace
# package at startup, which is not pushpool importing an SDK.
AT_STARTUP = frozenset(sys.modules)


def loaded() -> list[str]:
    new = set(sys.modules) - AT_STARTUP
    return sorted({name.split(".")[0] for name in new} & set(FORBIDDEN))


def main() -> None:
    report: dict[str, object] = {}
    import handlers.api
    import handlers.dispatch
    import handlers.infra_events
    import handlers.tick

    report["after_import"] = loaded()
    report["handlers"] = [
        callable(m.handler)
        for m in (handlers.api, handlers.dispatch, handlers.infra_events, handlers.tick)
    ]
    report.update(serve_an_ecs_pool())
    report["after_dispatch"] = loaded()
    print(json.dumps(report))


def serve_an_ecs_pool() -> dict[str, object]:
    import boto3

    import handlers.dispatch
    import handlers.infra_events
    import handlers.tick
    from core.store import open_store
    from tests.fakes.moto_ecs import moto_ecs, task_state_change_event
    from tests.handlers.support import due_run, push_pool_with_deployment, sqs_event

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PUSHPOOL_STORE": f"sqlite:///{Path(tempfile.mkdtemp()) / 'pushpool.db'}",
        "PUSHPOOL_RUN_TOKEN_KEY": "k" * 32,
    }.items():
        os.environ[name] = value
    with moto_ecs():
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName="flows")
        store = open_store(os.environ["PUSHPOOL_STORE"])
        variables = {"image": "flows:1", "cluster": "flows"}
        deployment = push_pool_with_deployment(
            store, "ecs:push", name="on-ecs", job_variables=variables
        )
        run = due_run(store, deployment)
        handlers.dispatch.handler(sqs_event({"pool": "on-ecs"}), None)
        infra_id = store.get_run(run.id).infrastructure_pid or "|"
        cluster, task_arn = infra_id.split("|")
        task = ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"][0]
        handlers.infra_events.handler(task_state_change_event(task), None)
        handlers.tick.handler({}, None)
        return {"submitted": infra_id != "|"}


if __name__ == "__main__":
    main()
