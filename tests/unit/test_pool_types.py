"""The pool-type registry and every type's default base job template."""

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from core.errors import InfrastructureError, InvalidInput
from core.ports import PoolMode, PoolTypes
from core.templates import PLACEHOLDER, render, validate_job_variables, validate_template
from providers import registry
from providers.registry import REGISTRY, PoolTypeInfo, PoolTypeRegistry, describe

TYPES = [
    "process",
    "docker",
    "kubernetes",
    "ecs",
    "ecs:push",
    "cloud-run",
    "cloud-run-v2",
    "cloud-run:push",
    "cloud-run-v2:push",
    "azure-container-instance",
    "azure-container-instance:push",
    "vertex-ai",
    "modal:push",
    "managed",
]

# The variables design §4 lists for each type, beyond name/env/labels/command.
ECS = [
    "image", "cluster", "launch_type", "cpu", "memory", "task_definition_arn", "task_role_arn",
    "execution_role_arn", "vpc_id", "network_configuration", "configure_cloudwatch_logs",
    "container_name",
]  # fmt: skip
CLOUD_RUN = [
    "project", "region", "image", "cpu", "memory", "timeout", "service_account_name",
    "vpc_connector_name", "keep_job",
]  # fmt: skip
ACI = [
    "subscription_id", "resource_group_name", "location", "image", "cpu", "memory",
    "gpu_count", "subnet_ids", "identities", "keep_container_group",
]  # fmt: skip
DESIGNED_VARIABLES = {
    "process": ["stream_output", "working_dir"],
    "docker": ["image", "networks", "volumes", "auto_remove", "mem_limit"],
    "kubernetes": [
        "namespace", "image", "service_account_name", "resources", "backoff_limit",
        "finished_job_ttl",
    ],
    "ecs": ECS,
    "ecs:push": ECS,
    "cloud-run": CLOUD_RUN,
    "cloud-run-v2": [*CLOUD_RUN, "max_retries"],
    "cloud-run:push": CLOUD_RUN,
    "cloud-run-v2:push": [*CLOUD_RUN, "max_retries"],
    "azure-container-instance": ACI,
    "azure-container-instance:push": ACI,
    "vertex-ai": ["region", "image", "machine_type"],
    "modal:push": [
        "app_name", "function_name", "image", "cpu", "memory", "gpu", "timeout", "secrets",
    ],
    "managed": ["image", "cpu", "memory"],
}  # fmt: skip


def test_every_pool_type_of_the_design_is_known_in_its_order():
    assert REGISTRY.known() == TYPES


@pytest.mark.parametrize(
    "pool_type, mode",
    [
        ("process", PoolMode.PULL),
        ("docker", PoolMode.PULL),
        ("kubernetes", PoolMode.PULL),
        ("ecs", PoolMode.PULL),
        ("cloud-run", PoolMode.PULL),
        ("cloud-run-v2", PoolMode.PULL),
        ("azure-container-instance", PoolMode.PULL),
        ("vertex-ai", PoolMode.PULL),
        ("ecs:push", PoolMode.PUSH),
        ("cloud-run:push", PoolMode.PUSH),
        ("cloud-run-v2:push", PoolMode.PUSH),
        ("azure-container-instance:push", PoolMode.PUSH),
        ("modal:push", PoolMode.PUSH),
        ("managed", PoolMode.MANAGED),
    ],
)
def test_each_type_has_the_mode_of_the_design_table(pool_type, mode):
    assert REGISTRY.mode(pool_type) is mode
    assert describe(pool_type).needs_worker is (mode is PoolMode.PULL)


def test_the_registry_implements_the_pool_types_port():
    port: PoolTypes = REGISTRY
    assert port.known()


@pytest.mark.parametrize("pool_type", TYPES)
def test_each_type_has_a_title_and_description_for_uis(pool_type):
    info = describe(pool_type)
    assert isinstance(info, PoolTypeInfo)
    assert info.title and info.description.endswith(".")
    pushed = "without the need for a" in info.description
    assert pushed is (info.mode is PoolMode.PUSH)


@pytest.mark.parametrize("call", [REGISTRY.mode, REGISTRY.default_template, describe])
def test_an_unknown_type_is_rejected_with_the_list_of_valid_types(call):
    with pytest.raises(InvalidInput) as caught:
        call("lambda")
    assert "unknown work pool type 'lambda'" in str(caught.value)
    assert all(pool_type in str(caught.value) for pool_type in TYPES)


def test_template_files_have_filesystem_safe_names_and_all_exist():
    folder = Path(registry.__file__).parent / "templates"
    names = [describe(pool_type).template_file for pool_type in TYPES]
    assert all(":" not in name and "/" not in name for name in names)
    assert sorted(names) == sorted(path.name for path in folder.glob("*.json"))


@pytest.mark.parametrize("pool_type", TYPES)
def test_each_default_template_passes_validation(pool_type):
    validate_template(REGISTRY.default_template(pool_type))


@pytest.mark.parametrize("pool_type", TYPES)
def test_each_default_template_renders_with_its_defaults_alone(pool_type):
    rendered = render(REGISTRY.default_template(pool_type))
    assert isinstance(rendered, dict)
    assert not PLACEHOLDER.search(json.dumps(rendered))


@pytest.mark.parametrize("pool_type", TYPES)
def test_each_default_template_declares_the_variables_of_the_design(pool_type):
    declared = REGISTRY.default_template(pool_type)["variables"]["properties"]
    expected = ["name", "env", "labels", "command", *DESIGNED_VARIABLES[pool_type]]
    assert [name for name in expected if name not in declared] == []


@pytest.mark.parametrize("pool_type", TYPES)
def test_every_variable_has_a_title_and_description(pool_type):
    declared = REGISTRY.default_template(pool_type)["variables"]["properties"]
    untitled = [
        name
        for name, schema in declared.items()
        if not (schema.get("title") and len(schema.get("description", "")) > 10)
    ]
    assert untitled == []


@pytest.mark.parametrize("pool_type", TYPES)
def test_every_declared_variable_is_used_by_the_job_configuration(pool_type):
    template = REGISTRY.default_template(pool_type)
    used = {
        match.group(1).split(".")[0].split("[")[0]
        for match in PLACEHOLDER.finditer(json.dumps(template["job_configuration"]))
    }
    assert set(template["variables"]["properties"]) - used == set()


@pytest.mark.parametrize("pool_type", TYPES)
def test_env_and_labels_reach_the_top_level_of_the_configuration(pool_type):
    """Providers read env and labels from the top level (see core.services.jobs)."""
    configuration = render(
        REGISTRY.default_template(pool_type),
        run_variables={"env": {"A": "1"}, "labels": {"team": "x"}, "name": "n"},
    )
    assert configuration["env"] == {"A": "1"}
    assert configuration["labels"] == {"team": "x"}
    assert configuration["name"] == "n"


def test_a_default_template_is_a_fresh_copy_each_time():
    first = REGISTRY.default_template("ecs")
    first["variables"]["properties"]["cpu"]["default"] = 1
    assert REGISTRY.default_template("ecs")["variables"]["properties"]["cpu"]["default"] == 1024


def test_kubernetes_default_carries_a_batch_v1_job_manifest():
    configuration = render(
        REGISTRY.default_template("kubernetes"),
        run_variables={"image": "flows:1", "resources.limits.memory": "1Gi", "command": "run"},
    )
    manifest = configuration["job_manifest"]
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "flows:1"
    assert container["resources"] == {"limits": {"memory": "1Gi"}}
    assert manifest["metadata"]["namespace"] == "default"


@pytest.mark.parametrize("pool_type", ["ecs", "ecs:push", "managed"])
def test_ecs_defaults_carry_a_task_definition_and_a_run_task_request(pool_type):
    configuration = render(REGISTRY.default_template(pool_type))
    assert configuration["task_definition"]["containerDefinitions"][0]["image"]
    assert configuration["task_run_request"]["launchType"] == "FARGATE"
    assert (
        configuration["task_definition"]["cpu"],
        configuration["task_definition"]["memory"],
    ) == (
        1024,
        2048,
    )


def test_ecs_launch_type_is_one_of_fargate_ec2_fargate_spot():
    template = REGISTRY.default_template("ecs:push")
    for launch_type in ["FARGATE", "EC2", "FARGATE_SPOT"]:
        validate_job_variables(template, {"launch_type": launch_type})
    with pytest.raises(InvalidInput, match=r"job_variables\.launch_type"):
        validate_job_variables(template, {"launch_type": "EXTERNAL"})


@pytest.mark.parametrize("pool_type", ["cloud-run-v2", "cloud-run-v2:push"])
def test_cloud_run_v2_default_has_a_job_body_and_the_design_limits(pool_type):
    template = REGISTRY.default_template(pool_type)
    body = render(template, run_variables={"timeout": 3600, "cpu": "2000m"})["job_body"]
    assert body["template"]["template"]["timeout"] == "3600s"
    assert body["template"]["template"]["containers"][0]["resources"]["limits"] == {"cpu": "2000m"}
    validate_job_variables(template, {"memory": "512Mi", "timeout": 604800})
    for bad in [{"cpu": "2"}, {"memory": "1GB"}, {"timeout": 0}, {"timeout": 604801}]:
        with pytest.raises(InvalidInput):
            validate_job_variables(template, bad)


def test_managed_pools_let_users_choose_only_image_cpu_memory_and_env():
    declared = REGISTRY.default_template("managed")["variables"]["properties"]
    assert set(declared) == {"name", "env", "labels", "command", "image", "cpu", "memory"}


def test_importing_the_registry_imports_no_sdk_and_no_provider_module():
    # Measured against what the bare interpreter already holds: a ``*-nspkg.pth``
    # (google-cloud-aiplatform ships one) creates the empty ``google`` namespace
    # package at startup, before any pushpool code runs.
    code = (
        "import sys; before = set(sys.modules);"
        "import providers.registry as r; r.REGISTRY.default_template('cloud-run-v2:push');"
        "heavy = ['boto3', 'google', 'azure', 'modal', 'docker', 'kubernetes'];"
        "loaded = [m for m in set(sys.modules) - before if m.split('.')[0] in heavy"
        " or (m.startswith('providers.') and m != 'providers.registry')];"
        "print(loaded)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# -- loading providers lazily ----------------------------------------------------------


def fake_registry(module):
    info = PoolTypeInfo(
        type="fake",
        title="Fake",
        description="A fake.",
        mode=PoolMode.PUSH,
        provider=module,
        extra="gcp",
        template_file="process.json",
    )
    return PoolTypeRegistry((info,))


def test_load_provider_imports_the_types_module_and_calls_its_factory(monkeypatch):
    module = types.ModuleType("providers.fake_for_test")
    module.make_provider = lambda **clients: ("provider", clients)
    monkeypatch.setitem(sys.modules, "providers.fake_for_test", module)
    provider = fake_registry("fake_for_test").load_provider("fake", client="c")
    assert provider == ("provider", {"client": "c"})


def test_a_type_whose_provider_module_is_missing_is_a_terminal_error():
    with pytest.raises(InfrastructureError, match="no provider in this installation") as caught:
        fake_registry("no_such_provider_module").load_provider("fake")
    assert caught.value.retryable is False


def test_a_missing_sdk_says_which_extra_to_install(monkeypatch):
    module = types.ModuleType("providers.fake_sdk_for_test")

    def make_provider(**clients):
        raise ModuleNotFoundError("No module named 'google.cloud.run_v2'", name="google")

    module.make_provider = make_provider
    monkeypatch.setitem(sys.modules, "providers.fake_sdk_for_test", module)
    with pytest.raises(InfrastructureError, match=r"pip install 'pushpool\[gcp\]'") as caught:
        fake_registry("fake_sdk_for_test").load_provider("fake")
    assert caught.value.retryable is False


def test_a_module_without_a_factory_is_a_terminal_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "providers.empty_for_test", types.ModuleType("x"))
    with pytest.raises(InfrastructureError, match="no make_provider"):
        fake_registry("empty_for_test").load_provider("fake")
