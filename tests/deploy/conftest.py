"""Shared fixtures for the deployment checks: the SAM template, its offline
translation to CloudFormation, and `sam package`'s rewrite of local artifact
paths to S3 URIs (the translator accepts only S3 URIs, as CloudFormation does)."""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
INFRA = ROOT / "infra"
ARTIFACT_BUCKET = "pushpool-artifacts"
ALL_FEATURES = {"EnableGcp": "true", "EnableAzure": "true", "EnableModal": "true"}


class NoManagedPolicies:
    """The translator asks IAM for AWS managed policies only when a function
    names one in `Policies`; ours use inline statements, so nothing to load."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` does: point CodeUri/ContentUri at uploaded S3 objects."""
    result = copy.deepcopy(template)
    result["Globals"]["Function"]["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/code.zip"
    for name, resource in result["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{name}.zip"
    return result


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text())


@pytest.fixture(scope="session")
def translate(sam_template: dict[str, Any]) -> Callable[[dict[str, str]], dict[str, Any]]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    def run(parameters: dict[str, str]) -> dict[str, Any]:
        return transform(packaged(sam_template), parameters, NoManagedPolicies())

    return run


def find_checkov() -> str | None:
    return os.environ.get("PUSHPOOL_CHECKOV") or shutil.which("checkov")
