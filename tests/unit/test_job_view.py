"""Masking what a rendered job configuration shows: names decide, values never do."""

from __future__ import annotations

import pytest

from core.services.job_view import MASK, looks_secret, mask_secrets


@pytest.mark.parametrize(
    "name",
    [
        "PUSHPOOL_RUN_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "DB_PASSWORD",
        "db_passwd",
        "GITHUB_TOKEN",
        "api-key",
        "STRIPE_API_KEY",
        "SENTRY_DSN",
        "ssh_private_key",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "Authorization",
        "SESSION_COOKIE",
        "key",
    ],
)
def test_names_that_look_secret(name: str):
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name", ["PATH", "REGION", "image", "cpu", "keep_job", "task_role_arn", "monkey_count"]
)
def test_names_that_do_not(name: str):
    assert not looks_secret(name)


def test_env_mappings_are_masked_by_key_and_the_paths_are_reported():
    configuration = {
        "env": {"DB_PASSWORD": "hunter2", "REGION": "eu"},
        "command": "python flow.py",
    }
    masked, paths = mask_secrets(configuration)
    assert masked == {"env": {"DB_PASSWORD": MASK, "REGION": "eu"}, "command": "python flow.py"}
    assert paths == ["env.DB_PASSWORD"]
    assert configuration["env"]["DB_PASSWORD"] == "hunter2"  # the input is not changed


def test_name_value_pairs_are_masked_where_ecs_and_kubernetes_put_them():
    containers = {
        "containers": [
            {
                "env": [
                    {"name": "API_TOKEN", "value": "t0k"},
                    {"name": "LOG_LEVEL", "value": "debug"},
                ]
            }
        ]
    }
    masked, paths = mask_secrets(containers)
    pairs = masked["containers"][0]["env"]
    assert pairs == [{"name": "API_TOKEN", "value": MASK}, {"name": "LOG_LEVEL", "value": "debug"}]
    assert paths == ["containers[0].env[0].value"]


def test_secret_looking_keys_holding_structures_are_walked_not_hidden():
    masked, paths = mask_secrets(
        {"secrets": ["my-modal-secret"], "imagePullSecrets": [{"name": "r"}]}
    )
    assert masked == {"secrets": ["my-modal-secret"], "imagePullSecrets": [{"name": "r"}]}
    assert paths == []


def test_empty_and_null_secrets_stay_visible_as_what_they_are():
    masked, paths = mask_secrets({"API_TOKEN": "", "DB_PASSWORD": None})
    assert masked == {"API_TOKEN": "", "DB_PASSWORD": None}
    assert paths == []
