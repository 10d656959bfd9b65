"""Turning a claimed flow run into the ``Job`` a provider submits.

Rendering the pool's template is pure (``core.templates``); this adds what
only a submission knows (design §4, "Injected at submission"): where the
API is, which run this is, the run's scoped token and its parameters, and
labels that let the infrastructure be traced back to the run.  Values the
template rendered win over injected ones, as the design says.

Providers read ``env``, ``labels``, ``name`` and ``command`` from the top
level of ``Job.configuration`` and place them into their request shapes
(a container override, a manifest's container, ...), as Prefect's workers
do; nested copies rendered earlier do not carry the injected values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.entrypoints import entrypoint_command
from core.errors import InvalidInput
from core.models import JSON, Deployment, FlowRun, WorkPool
from core.ports import Job
from core.templates import properties, render_resolved, resolve_variables, validate_job_variables
from core.templates.placeholders import as_text

API_URL_ENV = "PUSHPOOL_API_URL"
FLOW_RUN_ID_ENV = "PUSHPOOL_FLOW_RUN_ID"
RUN_TOKEN_ENV = "PUSHPOOL_RUN_TOKEN"
PARAMETERS_ENV = "PUSHPOOL_PARAMETERS"
FLOW_RUN_LABEL = "pushpool.io/flow-run-id"
WORK_POOL_LABEL = "pushpool.io/work-pool"
DEPLOYMENT_LABEL = "pushpool.io/deployment"
COMMAND = "command"


def build_job(
    *,
    pool: WorkPool,
    run: FlowRun,
    deployment: Deployment | None,
    api_url: str,
    run_token: str,
) -> Job:
    """Render ``pool``'s template for ``run`` and inject the submission values.

    The merged variables are validated against the pool's current schema,
    with ``required`` enforced: the pool's template may have changed since
    the deployment or run was accepted, and a run that cannot be rendered
    must fail with a reason a user can act on (``InvalidInput`` is terminal).
    """
    template = pool.base_job_template
    deployment_variables = _deployment_variables(template, deployment)
    values = resolve_variables(template, deployment_variables, run.job_variables)
    if template:
        values = validate_job_variables(template, values, path="job_variables", required=True)
    configuration = render_resolved(template, values)
    configuration["env"] = {
        **_injected_env(run, api_url=api_url, run_token=run_token),
        **_text_map(configuration.get("env"), key="env"),
    }
    configuration["labels"] = {
        **_injected_labels(pool, run),
        **_text_map(configuration.get("labels"), key="labels"),
    }
    if not configuration.get("name"):
        configuration["name"] = run.name
    return Job(
        run_id=run.id,
        attempt=run.attempt,
        run_name=run.name,
        pool_name=pool.name,
        pool_type=pool.type,
        deployment_id=run.deployment_id,
        configuration=configuration,
    )


def _deployment_variables(template: Mapping[str, Any], deployment: Deployment | None) -> JSON:
    """The deployment's job variables, with its command as the ``command``
    variable's default when the template declares one.

    It sits below the deployment's own ``job_variables`` and the run's, and
    above the template's default: a deployment says what it runs, a job
    variable can still override it.  The entrypoint stands in when no command
    is given: ``file.py:function`` through the runner of ``core.entrypoints``,
    anything else as a command.  A template that declares no ``command`` variable decides the
    command itself, so nothing is added there.
    """
    if deployment is None:
        return {}
    command = deployment.command or (
        entrypoint_command(deployment.entrypoint) if deployment.entrypoint else None
    )
    if command and COMMAND in properties(template):
        return {COMMAND: command, **deployment.job_variables}
    return dict(deployment.job_variables)


def _injected_env(run: FlowRun, *, api_url: str, run_token: str) -> dict[str, str]:
    return {
        API_URL_ENV: api_url,
        FLOW_RUN_ID_ENV: run.id,
        RUN_TOKEN_ENV: run_token,
        PARAMETERS_ENV: json.dumps(run.parameters, separators=(",", ":"), ensure_ascii=False),
    }


def _injected_labels(pool: WorkPool, run: FlowRun) -> dict[str, str]:
    labels = {FLOW_RUN_LABEL: run.id, WORK_POOL_LABEL: pool.name}
    if run.deployment_id:
        labels[DEPLOYMENT_LABEL] = run.deployment_id
    return labels


def _text_map(value: Any, *, key: str) -> dict[str, str]:
    """A rendered ``env`` or ``labels`` as string values, nulls dropped."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(
            f"the rendered job configuration's {key} must be an object of names to "
            f"strings, not {type(value).__name__}; fix the work pool's template",
            path=f"job_configuration.{key}",
        )
    return {str(name): as_text(text) for name, text in value.items() if text is not None}
