"""Building the Job a provider submits (design §4, "Injected at submission")."""

import json
from datetime import UTC, datetime

import pytest

from core.errors import InvalidInput
from core.models import Deployment, FlowRun, WorkPool
from core.services.jobs import build_job
from core.states import StateType, new_state
from providers.registry import REGISTRY

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
API = "https://api.example.com/api"
TOKEN = "run-token-123"


def pool(template, pool_type="process"):
    return WorkPool(
        id="pool-id",
        name="etl-pool",
        type=pool_type,
        base_job_template=template,
        default_queue_id="queue-id",
        created=NOW,
        updated=NOW,
    )


def deployment(**changes):
    fields = {
        "id": "dep-id",
        "name": "nightly",
        "flow_id": "flow-id",
        "flow_name": "etl",
        "work_pool_name": "etl-pool",
        "work_queue_name": "default",
        "created": NOW,
        "updated": NOW,
    }
    return Deployment(**(fields | changes))


def run(**changes):
    fields = {
        "id": "run-id",
        "name": "brave-otter",
        "flow_id": "flow-id",
        "deployment_id": "dep-id",
        "work_pool_id": "pool-id",
        "work_pool_name": "etl-pool",
        "work_queue_id": "queue-id",
        "work_queue_name": "default",
        "parameters": {"day": "2026-01-01", "n": 3},
        "state": new_state(StateType.PENDING, at=NOW),
        "next_scheduled_start_time": NOW,
        "attempt": 2,
        "created": NOW,
        "updated": NOW,
    }
    return FlowRun(**(fields | changes))


def build(template=None, *, the_run=None, the_deployment="default", pool_type="process"):
    if template is None:
        template = REGISTRY.default_template(pool_type)
    return build_job(
        pool=pool(template, pool_type),
        run=the_run or run(),
        deployment=deployment() if the_deployment == "default" else the_deployment,
        api_url=API,
        run_token=TOKEN,
    )


def test_the_job_identifies_the_run_attempt_pool_and_deployment():
    job = build()
    assert (job.run_id, job.attempt, job.run_name) == ("run-id", 2, "brave-otter")
    assert (job.pool_name, job.pool_type, job.deployment_id) == ("etl-pool", "process", "dep-id")
    assert job.idempotency_key == "run-id-2"


def test_the_pushpool_environment_is_injected():
    env = build().configuration["env"]
    assert env["PUSHPOOL_API_URL"] == API
    assert env["PUSHPOOL_FLOW_RUN_ID"] == "run-id"
    assert env["PUSHPOOL_RUN_TOKEN"] == TOKEN
    assert json.loads(env["PUSHPOOL_PARAMETERS"]) == {"day": "2026-01-01", "n": 3}


def test_labels_trace_the_infrastructure_back_to_the_run():
    labels = build().configuration["labels"]
    assert labels == {
        "pushpool.io/flow-run-id": "run-id",
        "pushpool.io/work-pool": "etl-pool",
        "pushpool.io/deployment": "dep-id",
    }


def test_a_run_without_a_deployment_gets_no_deployment_label():
    job = build(the_run=run(deployment_id=None), the_deployment=None)
    assert "pushpool.io/deployment" not in job.configuration["labels"]
    assert job.deployment_id is None


def test_rendered_env_and_labels_are_kept_and_win_over_injected_values():
    the_run = run(
        job_variables={
            "env": {"LOG_LEVEL": "DEBUG", "PUSHPOOL_API_URL": "http://override"},
            "labels": {"team": "data", "pushpool.io/work-pool": "mine"},
        }
    )
    configuration = build(the_run=the_run).configuration
    assert configuration["env"]["LOG_LEVEL"] == "DEBUG"
    assert configuration["env"]["PUSHPOOL_API_URL"] == "http://override"
    assert configuration["env"]["PUSHPOOL_RUN_TOKEN"] == TOKEN
    assert configuration["labels"]["team"] == "data"
    assert configuration["labels"]["pushpool.io/work-pool"] == "mine"


def test_the_name_defaults_to_the_run_name():
    assert build().configuration["name"] == "brave-otter"


def test_a_rendered_name_wins_over_the_run_name():
    the_run = run(job_variables={"name": "custom"})
    assert build(the_run=the_run).configuration["name"] == "custom"


def test_the_deployment_command_is_the_command_default():
    configuration = build(the_deployment=deployment(command="python -m etl")).configuration
    assert configuration["command"] == "python -m etl"


def test_the_entrypoint_stands_in_when_the_deployment_has_no_command():
    configuration = build(the_deployment=deployment(entrypoint="python flows/etl.py")).configuration
    assert configuration["command"] == "python flows/etl.py"


def test_job_variables_override_the_deployment_command():
    dep = deployment(command="python -m etl", job_variables={"command": "python -m dep"})
    assert build(the_deployment=dep).configuration["command"] == "python -m dep"
    the_run = run(job_variables={"command": "python -m run"})
    assert build(the_run=the_run, the_deployment=dep).configuration["command"] == "python -m run"


def test_the_deployment_command_reaches_nested_command_placeholders():
    dep = deployment(command="python -m etl")
    configuration = build(the_deployment=dep, pool_type="kubernetes").configuration
    container = configuration["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == "python -m etl"


def test_a_template_without_a_command_variable_gets_no_command():
    template = {"job_configuration": {"image": "{{ image }}"},
                "variables": {"properties": {"image": {"type": "string", "default": "i"}}}}  # fmt: skip
    configuration = build(
        template, the_deployment=deployment(command="python -m etl")
    ).configuration
    assert "command" not in configuration
    assert configuration["image"] == "i"


def test_deployment_and_run_variables_merge_over_the_pool_defaults():
    dep = deployment(job_variables={"env": {"A": "dep", "B": "dep"}, "stream_output": False})
    the_run = run(job_variables={"env": {"B": "run"}})
    configuration = build(the_run=the_run, the_deployment=dep).configuration
    assert (configuration["env"]["A"], configuration["env"]["B"]) == ("dep", "run")
    assert configuration["stream_output"] is False


def test_an_empty_template_still_gets_the_injected_values():
    configuration = build({}).configuration
    assert set(configuration) == {"env", "labels", "name"}
    assert configuration["env"]["PUSHPOOL_FLOW_RUN_ID"] == "run-id"


def test_non_string_env_values_from_the_template_become_text():
    template = {"job_configuration": {"env": {"N": 1, "B": True, "GONE": None}}, "variables": {}}
    assert build(template).configuration["env"] | {"PUSHPOOL_RUN_TOKEN": "-"} == {
        "N": "1",
        "B": "true",
        "PUSHPOOL_API_URL": API,
        "PUSHPOOL_FLOW_RUN_ID": "run-id",
        "PUSHPOOL_RUN_TOKEN": "-",
        "PUSHPOOL_PARAMETERS": '{"day":"2026-01-01","n":3}',
    }


def test_variables_that_no_longer_fit_the_pools_schema_fail_with_the_reason():
    the_run = run(job_variables={"stream_output": "yes"})
    with pytest.raises(InvalidInput, match=r"^job_variables\.stream_output: 'yes' is not of type"):
        build(the_run=the_run)


def test_a_required_variable_nobody_set_fails_with_the_reason():
    template = REGISTRY.default_template("process")
    template["variables"]["required"] = ["working_dir"]
    with pytest.raises(InvalidInput, match="'working_dir' is a required property"):
        build(template)


def test_a_rendered_env_that_is_not_an_object_is_rejected():
    template = {"job_configuration": {"env": ["A=1"]}, "variables": {}}
    with pytest.raises(InvalidInput, match=r"^job_configuration\.env: .*must be an object"):
        build(template)


def test_building_a_job_does_not_change_the_pool_template():
    template = REGISTRY.default_template("ecs:push")
    snapshot = json.dumps(template)
    build(template, pool_type="ecs:push")
    assert json.dumps(template) == snapshot
