"""template.yaml passes cfn-lint and checkov, before and after the SAM
transform, and its IAM is least-privilege."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint

from tests.deploy.conftest import ALL_FEATURES, INFRA, TEMPLATE, find_checkov


def cfn_lint_errors(path: Path) -> list[str]:
    # Regions where every service the stack uses (HTTP APIs, Scheduler) exists.
    matches = lint(path.read_text(), config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    return [
        f"{m.rule.id} {m.message} (line {m.linenumber})"
        for m in matches
        if m.rule.id.startswith("E")
    ]


def test_sam_template_has_no_cfn_lint_errors():
    assert cfn_lint_errors(TEMPLATE) == []


@pytest.mark.parametrize("features", [{}, ALL_FEATURES], ids=["ecs-only", "all-providers"])
def test_translated_template_has_no_cfn_lint_errors(translate, features, tmp_path):
    translated = tmp_path / "translated.json"
    translated.write_text(json.dumps(translate(features)))
    assert cfn_lint_errors(translated) == []


def run_checkov(*args: str) -> dict[str, Any]:
    checkov = find_checkov()
    if checkov is None:
        if os.environ.get("CI"):
            pytest.fail("checkov is not installed; .ci/run installs it and sets PUSHPOOL_CHECKOV")
        pytest.skip("checkov is not installed (CI installs it; see .ci/run)")
    proc = subprocess.run(
        [checkov, *args, "--output", "json", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    return report if isinstance(report, dict) else {"results": {"failed_checks": []}, "summary": {}}


def failed(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for c in report.get("results", {}).get("failed_checks", [])
    ]


def test_checkov_passes_on_the_sam_template():
    report = run_checkov("-f", str(TEMPLATE), "--framework", "cloudformation")
    assert failed(report) == []
    assert report["summary"]["passed"] > 0


def test_checkov_passes_on_the_terraform_module():
    report = run_checkov("-d", str(INFRA), "--framework", "terraform")
    assert failed(report) == []
    assert report["summary"]["passed"] > 0


def test_every_checkov_skip_carries_a_reason(sam_template):
    for name, resource in sam_template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, f"{name}: skip {skip['id']} needs a reason"
    for tf in INFRA.rglob("*.tf"):
        for line in tf.read_text().splitlines():
            if "checkov:skip=" in line:
                _, reason = line.split("checkov:skip=", 1)[1].split(":", 1)
                assert len(reason.strip()) > 20, f"{tf.name}: {line.strip()} needs a reason"


def statements(template: dict[str, Any]):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_function_has_its_own_role(translate):
    template = translate(ALL_FEATURES)
    roles = [
        json.dumps(r["Properties"]["Role"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert len(roles) == 7
    assert len(set(roles)) == len(roles)


def test_no_wildcard_actions_and_no_write_on_every_resource_without_a_condition(translate):
    template = translate(ALL_FEATURES)
    checked = 0
    for role, statement in statements(template):
        actions = as_list(statement["Action"])
        resources = as_list(statement.get("Resource", []))
        assert "*" not in actions, role
        assert not any(a.endswith(":*") for a in actions), (role, actions)
        if resources == ["*"]:
            # Read-only or registration calls that accept no resource-level permission.
            allowed_unscoped = {
                "ecs:RegisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
            }
            assert "Condition" in statement or set(actions) <= allowed_unscoped, (role, actions)
        checked += 1
    assert checked > 15


def test_pass_role_is_limited_to_declared_roles_and_to_ecs(translate):
    template = translate(ALL_FEATURES)
    pass_role = [s for _, s in statements(template) if "iam:PassRole" in as_list(s["Action"])]
    assert pass_role, "the dispatcher must be able to pass the task roles"
    for statement in pass_role:
        assert statement["Resource"] != "*"
        assert (
            statement["Condition"]["StringEquals"]["iam:PassedToService"]
            == "ecs-tasks.amazonaws.com"
        )


def test_table_actions_only_on_the_table(translate):
    template = translate({})
    for role, statement in statements(template):
        if any(a.startswith("dynamodb:") for a in as_list(statement["Action"])):
            rendered = json.dumps(statement["Resource"])
            assert "Table.Arn" in rendered and '*"' not in rendered.replace("/index/*", ""), role
