"""infra/ parses, uses every variable it declares, mirrors the SAM template's
parameters, and creates the same resources (kind and name) as the translated
SAM template."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2

from tests.deploy.conftest import ALL_FEATURES, INFRA

MODULE = INFRA / "modules" / "pushpool"

# CloudFormation type -> Terraform type, for resources both sides declare.
KIND = {
    "AWS::ApiGatewayV2::Api": "aws_apigatewayv2_api",
    "AWS::ApiGatewayV2::Stage": "aws_apigatewayv2_stage",
    "AWS::DynamoDB::Table": "aws_dynamodb_table",
    "AWS::ECS::Cluster": "aws_ecs_cluster",
    "AWS::Events::Rule": "aws_cloudwatch_event_rule",
    "AWS::IAM::Role": "aws_iam_role",
    "AWS::Lambda::EventSourceMapping": "aws_lambda_event_source_mapping",
    "AWS::Lambda::Function": "aws_lambda_function",
    "AWS::Lambda::LayerVersion": "aws_lambda_layer_version",
    "AWS::Lambda::Permission": "aws_lambda_permission",
    "AWS::Logs::LogGroup": "aws_cloudwatch_log_group",
    "AWS::CloudWatch::Alarm": "aws_cloudwatch_metric_alarm",
    "AWS::CloudWatch::Dashboard": "aws_cloudwatch_dashboard",
    "AWS::SQS::Queue": "aws_sqs_queue",
    "AWS::Scheduler::Schedule": "aws_scheduler_schedule",
    "AWS::SecretsManager::Secret": "aws_secretsmanager_secret",
}

# Terraform resources that CloudFormation folds into a property of another
# resource (so they have no counterpart in the list above).
FOLDED_INTO_PROPERTIES = {
    "aws_apigatewayv2_integration": "the HttpApi event's integration",
    "aws_apigatewayv2_route": "the HttpApi event's route",
    "aws_cloudwatch_event_target": "AWS::Events::Rule Targets",
    "aws_ecs_cluster_capacity_providers": "AWS::ECS::Cluster CapacityProviders",
    "aws_iam_role_policy": "AWS::IAM::Role Policies",
    "aws_iam_role_policy_attachment": "AWS::IAM::Role ManagedPolicyArns",
}


def snake(name: str) -> str:
    # SAM suffixes layer logical ids with a content hash; the name is what precedes it.
    name = re.sub(r"[0-9a-f]{10}$", "", name)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def label(raw: str) -> str:
    """python-hcl2 keeps the quotes of block labels."""
    return raw.strip('"')


def parsed(folder: Path) -> list[dict[str, Any]]:
    return [hcl2.load(path.open()) for path in sorted(folder.rglob("*.tf"))]


def terraform_resources() -> set[tuple[str, str]]:
    found = set()
    for document in parsed(MODULE):
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name in named:
                    found.add((label(kind), label(name)))
    return found


def test_every_terraform_file_parses():
    documents = parsed(INFRA)
    assert len(documents) >= 7


def test_every_declared_variable_is_used():
    for folder in (MODULE, INFRA / "examples" / "basic"):
        text = "\n".join(p.read_text() for p in folder.glob("*.tf"))
        declared = {label(n) for d in parsed(folder) for v in d.get("variable", []) for n in v}
        unused = {name for name in declared if f"var.{name}" not in text}
        assert declared and not unused, f"{folder}: unused variables {sorted(unused)}"


def test_variables_mirror_the_sam_parameters(sam_template):
    declared = {label(n) for d in parsed(MODULE) for v in d.get("variable", []) for n in v}
    parameters = {snake(p) for p in sam_template["Parameters"]}
    terraform_only = {"name", "artifacts_dir"}  # SAM takes these from the stack and `sam package`
    assert declared - terraform_only == parameters


def test_terraform_creates_the_same_resources_as_the_sam_template(translate):
    cloudformation = {
        (KIND[resource["Type"]], snake(name))
        for name, resource in translate(ALL_FEATURES)["Resources"].items()
    }
    terraform = {
        (kind, name) for kind, name in terraform_resources() if kind not in FOLDED_INTO_PROPERTIES
    }
    assert sorted(cloudformation - terraform) == []
    assert sorted(terraform - cloudformation) == []


def test_outputs_match(sam_template):
    outputs = {label(n) for d in parsed(MODULE) for o in d.get("output", []) for n in o}
    assert outputs == {snake(o) for o in sam_template["Outputs"]}


def test_terraform_table_is_the_stores_table_definition():
    from core.store.dynamodb.schema import TTL_ATTRIBUTE, table_definition

    wanted = table_definition("t")
    text = (MODULE / "data.tf").read_text()
    table = next(
        body
        for d in parsed(MODULE)
        for block in d.get("resource", [])
        for kind, named in block.items()
        if label(kind) == "aws_dynamodb_table"
        for body in named.values()
    )
    assert (label(table["hash_key"]), label(table["range_key"])) == ("pk", "sk")
    indexes = {
        label(i["name"]): (
            label(i["hash_key"]),
            label(i["range_key"]),
            label(i["projection_type"]),
            [label(a) for a in i["non_key_attributes"]] if "non_key_attributes" in i else None,
        )
        for i in table["global_secondary_index"]
    }
    assert indexes == {
        i["IndexName"]: (
            i["KeySchema"][0]["AttributeName"],
            i["KeySchema"][1]["AttributeName"],
            i["Projection"]["ProjectionType"],
            i["Projection"].get("NonKeyAttributes"),
        )
        for i in wanted["GlobalSecondaryIndexes"]
    }
    for attribute in wanted["AttributeDefinitions"]:
        assert f'"{attribute["AttributeName"]}"' in text
    assert f'attribute_name = "{TTL_ATTRIBUTE}"' in text


def test_every_function_and_layer_runs_on_the_chosen_architecture(translate, sam_template):
    assert sam_template["Parameters"]["LambdaArchitecture"]["Default"] == "arm64"
    assert sam_template["Parameters"]["LambdaArchitecture"]["AllowedValues"] == ["arm64", "x86_64"]
    chosen = [{"Ref": "LambdaArchitecture"}]
    for name, resource in translate(ALL_FEATURES)["Resources"].items():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::Lambda::Function":
            assert properties["Architectures"] == chosen, name
        elif resource["Type"] == "AWS::Lambda::LayerVersion":
            assert properties["CompatibleArchitectures"] == chosen, name
    variable = next(
        body
        for d in parsed(MODULE)
        for v in d.get("variable", [])
        for name, body in v.items()
        if label(name) == "lambda_architecture"
    )
    assert label(variable["default"]) == "arm64"
    keys = {
        "aws_lambda_function": "architectures",
        "aws_lambda_layer_version": "compatible_architectures",
    }
    checked = 0
    for document in parsed(MODULE):
        for block in document.get("resource", []):
            for kind, named in block.items():  # python-hcl2 keeps the labels' quotes
                key = keys.get(label(kind))
                for name, body in named.items() if key else ():
                    assert body.get(key) == ["${var.lambda_architecture}"], label(name)
                    checked += 1
    assert checked > len(keys)  # every function and layer, not none


def test_terraform_names_and_grants_the_same_stack_parameters_as_the_sam_template():
    """One mechanism: both name /pushpool/<stack>/{admin-token,run-token-key} and grant
    each function read-or-create on the ones it is named, and neither creates them."""
    template = (INFRA.parent / "template.yaml").read_text()
    module = "\n".join(p.read_text() for p in MODULE.glob("*.tf"))
    sam_names = set(re.findall(r'/pushpool/\$\{AWS::StackName\}/([\w-]+)"', template))
    terraform_names = set(re.findall(r'\$\{local\.parameter_prefix\}/([\w-]+)"', module))
    assert sam_names == terraform_names == {"admin-token", "run-token-key"}
    sam_grants = re.findall(r"parameter/pushpool/\$\{AWS::StackName\}/([\w-]+)", template)
    terraform_grants = re.findall(r"\$\{local\.parameter_arn\}/([\w-]+)", module)
    assert sorted(sam_grants) == sorted(terraform_grants)  # api: both; 4 dispatchers: the key
    assert "aws_ssm_parameter" not in module and "AWS::SSM::Parameter" not in template


def test_every_function_logs_json_without_lambdas_start_end_and_report_lines(translate):
    """SystemLogLevel WARN drops Lambda's INFO platform lines (START/END/REPORT),
    most of the log bytes of a short invocation; the application's INFO lines
    and Lambda's WARN lines (errors, timeouts) stay (docs/decisions.md)."""
    wanted = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}
    functions = [
        (name, resource["Properties"])
        for name, resource in translate(ALL_FEATURES)["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    ]
    assert functions
    for name, properties in functions:
        assert properties["LoggingConfig"] == wanted, name
    terraform = [
        (label(name), body)
        for document in parsed(MODULE)
        for block in document.get("resource", [])
        for kind, named in block.items()
        if label(kind) == "aws_lambda_function"
        for name, body in named.items()
    ]
    assert len(terraform) == len(functions)
    for name, body in terraform:
        (config,) = body["logging_config"]
        settings = {key: label(value) for key, value in config.items() if not key.startswith("__")}
        assert settings == {
            "log_format": "JSON",
            "application_log_level": "INFO",
            "system_log_level": "WARN",
        }, name


def test_every_function_has_the_same_memory_as_in_the_sam_template(translate):
    """Memory is chosen per function (docs/decisions.md); both stacks deploy the same sizes."""
    sam = {
        snake(name): properties["Properties"]["MemorySize"]
        for name, properties in translate(ALL_FEATURES)["Resources"].items()
        if properties["Type"] == "AWS::Lambda::Function"
    }
    terraform = {
        label(name): body["memory_size"]
        for document in parsed(MODULE)
        for block in document.get("resource", [])
        for kind, named in block.items()
        if label(kind) == "aws_lambda_function"
        for name, body in named.items()
    }
    assert sam == terraform
    assert sam["dispatch_function"] != sam["api_function"]  # per function, not one global size
