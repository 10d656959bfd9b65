"""``pushpool work-pool get-default-base-job-template`` and ``render-template``."""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handlers.cli.main import app
from providers.registry import REGISTRY

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, ["work-pool", *args])


def assert_clean_error(result, *fragments):
    """Non-zero exit, one line on stderr saying what is wrong, no traceback."""
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def write(tmp_path, name, value):
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return path


# -- get-default-base-job-template ------------------------------------------------------


@pytest.mark.parametrize("pool_type", ["process", "ecs:push", "cloud-run-v2", "managed"])
def test_the_default_template_is_printed_as_json(pool_type):
    result = cli("get-default-base-job-template", "--type", pool_type)
    assert result.exit_code == 0
    assert json.loads(result.stdout) == REGISTRY.default_template(pool_type)


def test_the_default_template_can_be_written_to_a_file(tmp_path):
    target = tmp_path / "ecs.json"
    result = cli("get-default-base-job-template", "--type", "ecs", "--file", str(target))
    assert result.exit_code == 0
    assert json.loads(target.read_text()) == REGISTRY.default_template("ecs")


def test_an_unknown_type_lists_the_valid_types():
    result = cli("get-default-base-job-template", "--type", "lambda")
    assert_clean_error(result, "unknown work pool type 'lambda'", "process", "modal:push")


def test_an_unwritable_file_is_a_clean_error(tmp_path):
    target = tmp_path / "missing-dir" / "t.json"
    result = cli("get-default-base-job-template", "--type", "ecs", "--file", str(target))
    assert_clean_error(result, "--file", "cannot write")


# -- render-template ----------------------------------------------------------------------


def test_render_template_prints_what_the_template_renders_to(tmp_path):
    data = json.loads((DATA / "prefect_kubernetes.json").read_text())
    case = data["cases"][0]
    path = write(tmp_path, "k8s.json", data["base_job_template"])
    result = cli(
        "render-template",
        "--base-job-template", str(path),
        "--job-variables", json.dumps(case["job_variables"]),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == case["prefect_renders"]


def test_a_prefect_template_renders_with_run_over_deployment_over_defaults(tmp_path):
    template = json.loads((DATA / "prefect_process.json").read_text())["base_job_template"]
    path = write(tmp_path, "process.json", template)
    result = cli(
        "render-template",
        "--base-job-template", str(path),
        "--deployment-job-variables", '{"env": {"A": "dep", "B": "dep"}, "name": "dep"}',
        "--job-variables", '{"env": {"B": "run"}, "stream_output": false}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "env": {"A": "dep", "B": "run"},
        "name": "dep",
        "stream_output": False,
    }


def test_job_variables_can_come_from_a_file(tmp_path):
    template = write(tmp_path, "t.json", REGISTRY.default_template("docker"))
    variables = write(tmp_path, "vars.json", {"image": "flows:2", "env.N": 3})
    result = cli(
        "render-template", "--base-job-template", str(template), "--job-variables", f"@{variables}"
    )
    rendered = json.loads(result.stdout)
    assert (rendered["image"], rendered["env"]) == ("flows:2", {"N": "3"})


def test_nothing_injected_at_submission_is_added():
    result = cli("render-template", "--type", "process")
    assert json.loads(result.stdout) == {"stream_output": True}


def test_an_empty_template_file_with_a_type_renders_that_types_default(tmp_path):
    path = write(tmp_path, "empty.json", {})
    result = cli("render-template", "--base-job-template", str(path), "--type", "managed")
    assert json.loads(result.stdout)["task_run_request"]["launchType"] == "FARGATE"


def test_an_empty_template_file_alone_renders_nothing(tmp_path):
    path = write(tmp_path, "empty.json", {})
    result = cli("render-template", "--base-job-template", str(path))
    assert json.loads(result.stdout) == {}


def test_an_invalid_template_exits_with_the_validation_message(tmp_path):
    path = write(tmp_path, "bad.json", {"job_configuration": {"a": "{{ b }}"}, "variables": {}})
    result = cli("render-template", "--base-job-template", str(path))
    assert_clean_error(result, "base_job_template.job_configuration", "undeclared variables: b")


def test_invalid_run_variables_exit_with_the_field_path_and_reason():
    result = cli("render-template", "--type", "cloud-run-v2", "--job-variables", '{"cpu": "2"}')
    assert_clean_error(result, "job_variables.cpu", "does not match")


def test_a_required_variable_may_come_from_either_level_but_must_be_set(tmp_path):
    template = REGISTRY.default_template("process")
    template["variables"]["required"] = ["working_dir"]
    path = write(tmp_path, "t.json", template)
    result = cli("render-template", "--base-job-template", str(path))
    assert_clean_error(result, "'working_dir' is a required property")
    deployment_sets_it = cli(
        "render-template",
        "--base-job-template", str(path),
        "--deployment-job-variables", '{"working_dir": "/srv"}',
    )  # fmt: skip
    assert json.loads(deployment_sets_it.stdout)["working_dir"] == "/srv"


def test_invalid_deployment_variables_say_they_are_the_deployments():
    result = cli("render-template", "--type", "ecs", "--deployment-job-variables", '{"gpu": 1}')
    assert_clean_error(result, "deployment_job_variables", "unknown job variable(s) gpu")


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--type", "process", "--job-variables", "{bad"], ["--job-variables is not valid JSON"]),
        (["--type", "process", "--job-variables", "@/no/such/file"], ["cannot read"]),
        (["--type", "process", "--job-variables", "[1]"], ["job_variables: must be a JSON"]),
        (["--type", "nope"], ["unknown work pool type 'nope'"]),
        ([], ["give --base-job-template FILE"]),
    ],
)
def test_bad_arguments_are_one_clear_line_on_stderr(args, fragments):
    assert_clean_error(cli("render-template", *args), *fragments)


def test_a_template_file_that_is_not_json_is_a_clean_error(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("job_configuration: {}")
    result = cli("render-template", "--base-job-template", str(path))
    assert_clean_error(result, "--base-job-template is not valid JSON")


def test_the_module_entry_point_works_with_the_base_install():
    """``python -m handlers.cli`` imports no SDK to run these commands."""
    code = (
        "import sys, runpy; before = set(sys.modules);"
        "sys.argv = ['pushpool', 'work-pool', 'render-template', '--type',"
        " 'azure-container-instance:push'];"
        "heavy = ['google', 'azure', 'modal', 'docker', 'kubernetes', 'boto3'];\n"
        "try:\n    runpy.run_module('handlers.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print([m for m in set(sys.modules) - before if m.split('.')[0] in heavy],"
        " file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert json.loads(result.stdout)["location"] == "eastus"
    assert result.stderr.strip().splitlines()[-1] == "[]"


def test_the_readmes_template_commands_run_in_order_in_an_empty_folder(tmp_path, monkeypatch):
    """Every offline ``pushpool work-pool ...template...`` line of the README's tour,
    run as written: no step may refer to a file an earlier step did not make."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    lines = [
        line.split("  #")[0].strip()
        for line in readme.splitlines()
        if line.startswith("pushpool work-pool ") and "template" in line
    ]
    assert any("render-template" in line for line in lines)
    monkeypatch.chdir(tmp_path)
    for line in lines:
        args = shlex.split(line)[1:]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{line}: {result.output}"
    rendered = json.loads(result.stdout)
    assert rendered["env"] == {"A": "1"}
