"""The translated template creates a stack in moto's CloudFormation, and the
resources it makes are configured as pushpool needs them."""

from __future__ import annotations

import ast
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from core.store.dynamodb.schema import TTL_ATTRIBUTE, table_definition
from tests.deploy.conftest import ALL_FEATURES, ARTIFACT_BUCKET

REGION = "us-east-1"


def empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.txt", "artifact contents are checked by test_artifacts.py")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(translate) -> Iterator[dict[str, Any]]:
    template = translate(ALL_FEATURES)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        keys = ["code.zip"] + [
            f"{name}.zip"
            for name, r in template["Resources"].items()
            if r["Type"] == "AWS::Lambda::LayerVersion"
        ]
        for key in keys:
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=empty_zip())
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(
            StackName="pushpool",
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in ALL_FEATURES.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        summaries = cfn.list_stack_resources(StackName="pushpool")["StackResourceSummaries"]
        resources = {s["LogicalResourceId"]: s for s in summaries if s["LogicalResourceId"]}
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in cfn.describe_stacks(StackName="pushpool")["Stacks"][0]["Outputs"]
        }
        yield {"resources": resources, "outputs": outputs, "template": template}


def physical(stack: dict[str, Any], name: str) -> str:
    return stack["resources"][name]["PhysicalResourceId"]


def test_stack_creates_the_table_with_its_indexes_ttl_and_recovery(stack):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    table = dynamodb.describe_table(TableName=stack["outputs"]["TableName"])["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    wanted = table_definition(table["TableName"])
    assert table["KeySchema"] == wanted["KeySchema"]
    deployed = {
        i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in table["GlobalSecondaryIndexes"]
    }
    assert deployed == {
        i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in wanted["GlobalSecondaryIndexes"]
    }
    # moto's CloudFormation does not apply TimeToLiveSpecification; check what the stack declares.
    declared = stack["template"]["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"]
    assert declared == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    # Nor PointInTimeRecoverySpecification.
    recovery = stack["template"]["Resources"]["Table"]["Properties"][
        "PointInTimeRecoverySpecification"
    ]
    assert recovery == {"PointInTimeRecoveryEnabled": True}


def test_dispatch_queues_redrive_to_the_dead_letter_queue(stack):
    sqs = boto3.client("sqs", region_name=REGION)
    dlq_arn = sqs.get_queue_attributes(
        QueueUrl=physical(stack, "DispatchDeadLetterQueue"), AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for name in ("DispatchQueue", "DispatchQueueGcp", "DispatchQueueAzure", "DispatchQueueModal"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=physical(stack, name), AttributeNames=["All"]
        )
        redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq_arn
        assert int(redrive["maxReceiveCount"]) == 5


def test_functions_have_the_handlers_and_configuration_pushpool_expects(stack):
    lam = boto3.client("lambda", region_name=REGION)
    expected = {
        "ApiFunction": "handlers.api.handler",
        "TickFunction": "handlers.tick.handler",
        "DispatchFunction": "handlers.dispatch.handler",
        "DispatchGcpFunction": "handlers.dispatch.handler",
        "DispatchAzureFunction": "handlers.dispatch.handler",
        "DispatchModalFunction": "handlers.dispatch.handler",
        "InfraEventsFunction": "handlers.infra_events.handler",
    }
    for name, handler in expected.items():
        config = lam.get_function_configuration(FunctionName=physical(stack, name))
        assert config["Handler"] == handler
        env = config["Environment"]["Variables"]
        assert env["PUSHPOOL_STORE"] == f"dynamodb://{stack['outputs']['TableName']}"
        assert env["PUSHPOOL_DISPATCH_QUEUE_URL"].endswith(
            physical(stack, "DispatchQueue").rsplit("/", 1)[1]
        )
    dispatch = lam.get_function_configuration(FunctionName=physical(stack, "DispatchFunction"))
    assert "Layers" not in dispatch or dispatch["Layers"] == []
    # moto's CloudFormation drops Layers; check what the stack declares.
    for name in ("DispatchGcpFunction", "DispatchAzureFunction", "DispatchModalFunction"):
        layers = stack["template"]["Resources"][name]["Properties"]["Layers"]
        assert len(layers) == 1, name
    for name in ("ApiFunction", "TickFunction", "DispatchFunction", "InfraEventsFunction"):
        assert "Layers" not in stack["template"]["Resources"][name]["Properties"], name


def test_dispatch_functions_read_their_queue_with_partial_batch_responses(stack):
    lam = boto3.client("lambda", region_name=REGION)
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    by_function = {m["FunctionArn"].rsplit(":", 1)[-1]: m for m in mappings}
    for name in (
        "DispatchFunction",
        "DispatchGcpFunction",
        "DispatchAzureFunction",
        "DispatchModalFunction",
    ):
        mapping = by_function[physical(stack, name)]
        assert mapping["BatchSize"] == 10
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_ecs_task_state_changes_of_pushpool_tasks_reach_the_events_function(stack):
    events = boto3.client("events", region_name=REGION)
    rule_name = physical(stack, "InfraEventsFunctionEcsTaskStateChange")
    pattern = json.loads(events.describe_rule(Name=rule_name)["EventPattern"])
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Task State Change"]
    assert pattern["detail"]["startedBy"] == [{"prefix": "pushpool"}]
    targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
    assert any(physical(stack, "InfraEventsFunction") in t["Arn"] for t in targets)


def test_the_managed_cluster_and_execution_role_exist(stack):
    ecs = boto3.client("ecs", region_name=REGION)
    clusters = ecs.describe_clusters(clusters=[stack["outputs"]["ManagedClusterArn"]])["clusters"]
    assert clusters and clusters[0]["status"] == "ACTIVE"
    iam = boto3.client("iam")
    role = iam.get_role(RoleName=physical(stack, "ManagedTaskExecutionRole"))["Role"]
    assert "ecs-tasks.amazonaws.com" in json.dumps(role["AssumeRolePolicyDocument"])


def test_each_function_role_exists_with_its_inline_policy(stack):
    iam = boto3.client("iam")
    for name in (
        "ApiFunctionRole",
        "TickFunctionRole",
        "DispatchFunctionRole",
        "InfraEventsFunctionRole",
    ):
        role_name = physical(stack, name)
        assert iam.list_role_policies(RoleName=role_name)["PolicyNames"], name


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def ssm_statements(iam: Any, role_name: str) -> list[dict[str, Any]]:
    found = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        document = (
            ast.literal_eval(document) if isinstance(document, str) else document
        )  # moto: repr
        for statement in document["Statement"]:
            if any(a.startswith(("ssm:", "kms:")) for a in as_list(statement["Action"])):
                found.append(statement)
    return found


def test_functions_may_read_and_create_exactly_the_parameters_they_are_named(stack):
    """A function given a parameter's name may get and create that parameter and no
    other: the ARN in its role is built from the same stack name as the variable."""
    lam, iam = boto3.client("lambda", region_name=REGION), boto3.client("iam")
    variables = ("PUSHPOOL_ADMIN_TOKEN_PARAMETER", "PUSHPOOL_RUN_TOKEN_KEY_PARAMETER")
    named = {}
    for function in ("ApiFunction", "DispatchFunction", "DispatchModalFunction", "TickFunction"):
        env = lam.get_function_configuration(FunctionName=physical(stack, function))
        names = {env["Environment"]["Variables"].get(v) for v in variables} - {None}
        statements = ssm_statements(iam, physical(stack, f"{function}Role"))
        allowed = {r for s in statements for r in as_list(s["Resource"])}
        actions = {a for s in statements for a in as_list(s["Action"])}
        named[function] = names
        if function == "TickFunction":  # never mints nor checks a run token
            assert allowed == set(), function
            continue
        arn = f"arn:aws:ssm:{REGION}:123456789012:parameter"
        assert allowed == {f"{arn}{name}" for name in names}, function
        assert actions == {"ssm:GetParameter", "ssm:PutParameter"}, function
    assert named["ApiFunction"] == {
        "/pushpool/pushpool/admin-token",
        "/pushpool/pushpool/run-token-key",
    }
    assert named["DispatchFunction"] == {"/pushpool/pushpool/run-token-key"}
