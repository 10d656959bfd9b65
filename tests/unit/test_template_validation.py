"""Validating templates and job variables (design §4, "Validation")."""

import pytest

from core.errors import InvalidInput
from core.templates import validate_job_variables, validate_template


def template(job_configuration, properties, **variables):
    return {
        "job_configuration": job_configuration,
        "variables": {"type": "object", "properties": properties, **variables},
    }


# -- templates ---------------------------------------------------------------------


def test_the_empty_template_is_valid():
    validate_template({})


def test_a_template_without_placeholders_and_variables_is_valid():
    validate_template({"job_configuration": {"a": 1}, "variables": {}})


@pytest.mark.parametrize("bad", [[], "x", None, 3])
def test_a_template_must_be_an_object(bad):
    with pytest.raises(InvalidInput, match=r"^base_job_template: must be a JSON object"):
        validate_template(bad)


@pytest.mark.parametrize(
    "bad, missing",
    [
        ({"job_configuration": {}}, "variables"),
        ({"variables": {}}, "job_configuration"),
    ],
)
def test_a_template_needs_both_sections(bad, missing):
    with pytest.raises(InvalidInput, match=f"missing {missing}"):
        validate_template(bad)


def test_a_template_has_no_other_sections():
    with pytest.raises(InvalidInput, match=r"unknown key.*extras"):
        validate_template({"job_configuration": {}, "variables": {}, "extras": 1})


def test_sections_must_be_objects():
    with pytest.raises(InvalidInput, match=r"^base_job_template\.variables: must be a JSON"):
        validate_template({"job_configuration": {}, "variables": []})


def test_undeclared_placeholders_are_named_with_where_they_are():
    bad = template(
        {"image": "{{ image }}", "spec": {"args": ["{{ command }}", "--x={{ extra }}"]}},
        {"image": {"type": "string"}},
    )
    with pytest.raises(InvalidInput) as caught:
        validate_template(bad)
    message = str(caught.value)
    assert message.startswith("base_job_template.job_configuration:")
    assert "command (at base_job_template.job_configuration.spec.args[0])" in message
    assert "extra (at base_job_template.job_configuration.spec.args[1])" in message
    assert "image (" not in message


def test_a_dotted_placeholder_needs_only_its_root_declared():
    validate_template(
        template({"cpu": "{{ resources.limits.cpu }}", "v": "{{ vols[0] }}"},
                 {"resources": {"type": "object"}, "vols": {"type": "array"}})
    )  # fmt: skip


@pytest.mark.parametrize(
    "placeholder", ["{{ prefect.variables.x }}", "{{ prefect.blocks.s3.b }}", "{{ $HOME }}"]
)
def test_prefect_block_variable_and_env_placeholders_are_undeclared(placeholder):
    with pytest.raises(InvalidInput, match="undeclared variables"):
        validate_template(template({"k": placeholder}, {}))


def test_a_malformed_placeholder_is_rejected_with_its_path():
    with pytest.raises(InvalidInput, match=r"job_configuration\.k: malformed placeholder"):
        validate_template(template({"k": "{{ a[x] }}"}, {"a": {}}))


def test_placeholders_in_keys_are_rejected_because_keys_are_never_rendered():
    with pytest.raises(InvalidInput, match="values only, not in the key"):
        validate_template(template({"{{ name }}": 1}, {"name": {"type": "string"}}))


def test_the_variables_section_must_be_a_valid_json_schema():
    with pytest.raises(InvalidInput) as caught:
        validate_template(template({}, {"cpu": {"type": "integr"}}))
    assert str(caught.value).startswith("base_job_template.variables.properties.cpu.type:")
    assert "not a valid JSON Schema" in str(caught.value)


def test_properties_must_be_an_object_of_schemas():
    with pytest.raises(InvalidInput, match=r"^base_job_template\.variables\.properties: "):
        validate_template({"job_configuration": {}, "variables": {"properties": []}})


def test_each_default_must_satisfy_its_variable_schema():
    bad = template({}, {"cpu": {"type": "integer", "minimum": 256, "default": 128}})
    with pytest.raises(InvalidInput) as caught:
        validate_template(bad)
    assert str(caught.value).startswith("base_job_template.variables.properties.cpu.default:")
    assert "128 is less than the minimum of 256" in str(caught.value)


def test_a_default_is_checked_through_refs_to_definitions():
    bad = template(
        {},
        {"policy": {"allOf": [{"$ref": "#/definitions/Policy"}], "default": "Sometimes"}},
        definitions={"Policy": {"enum": ["Always", "Never"]}},
    )
    with pytest.raises(InvalidInput, match=r"policy\.default: 'Sometimes' is not one of"):
        validate_template(bad)


def test_a_null_default_means_no_default_and_is_not_checked():
    validate_template(template({}, {"image": {"type": "string", "default": None}}))


def test_a_nested_default_error_names_the_nested_path():
    bad = template(
        {}, {"env": {"type": "object", "additionalProperties": {"type": "string"},
                     "default": {"A": 1}}}
    )  # fmt: skip
    with pytest.raises(InvalidInput, match=r"properties\.env\.default\.A: 1 is not of type"):
        validate_template(bad)


# -- job variables -------------------------------------------------------------------

POOL = template(
    {
        "image": "{{ image }}",
        "cpu": "{{ cpu }}",
        "memory": "{{ memory }}",
        "launch_type": "{{ launch_type }}",
        "env": "{{ env }}",
        "network": "{{ network }}",
        "policy": "{{ policy }}",
        "size": "{{ size }}",
    },
    {
        "image": {"type": "string"},
        "cpu": {"type": "string", "pattern": "^\\d+m$"},
        "memory": {"type": "integer", "minimum": 128, "maximum": 4096},
        "launch_type": {"type": "string", "enum": ["FARGATE", "EC2"]},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "network": {
            "type": "object",
            "properties": {"subnets": {"type": "array", "items": {"type": "string"}}},
            "required": ["subnets"],
            "default": {"subnets": ["subnet-1"]},
        },
        "policy": {"allOf": [{"$ref": "#/definitions/Policy"}]},
        "size": {"anyOf": [{"type": "integer"}, {"$ref": "#/$defs/Size"}]},
    },
    definitions={"Policy": {"enum": ["Always", "Never"]}},
    **{"$defs": {"Size": {"type": "string", "enum": ["small", "large"]}}},
    required=["image"],
)


def test_valid_job_variables_come_back_unchanged():
    variables = {"image": "x", "cpu": "500m", "memory": 512, "policy": "Never", "size": "small"}
    assert validate_job_variables(POOL, variables) == variables


def test_an_empty_set_of_job_variables_is_valid():
    assert validate_job_variables(POOL, {}) == {}


@pytest.mark.parametrize(
    "variables, path, reason",
    [
        ({"cpu": "2"}, "job_variables.cpu", "does not match"),
        ({"memory": 64}, "job_variables.memory", "less than the minimum of 128"),
        ({"memory": 9000}, "job_variables.memory", "greater than the maximum of 4096"),
        ({"memory": "1Gi"}, "job_variables.memory", "is not of type 'integer'"),
        ({"launch_type": "LAMBDA"}, "job_variables.launch_type", "is not one of"),
        ({"policy": "Sometimes"}, "job_variables.policy", "is not one of"),
        ({"size": "medium"}, "job_variables.size", ""),
        ({"env": "A=1"}, "job_variables.env", "is not of type 'object'"),
        ({"network": {"subnets": [1]}}, "job_variables.network.subnets[0]", "not of type"),
        ({"network": {}}, "job_variables.network", "'subnets' is a required property"),
    ],
)
def test_invalid_job_variables_name_the_field_path_and_reason(variables, path, reason):
    with pytest.raises(InvalidInput) as caught:
        validate_job_variables(POOL, variables)
    assert caught.value.path == path
    assert reason in str(caught.value)


def test_the_path_prefix_says_which_variables_were_wrong():
    with pytest.raises(InvalidInput, match=r"^deployment\.job_variables\.cpu:"):
        validate_job_variables(POOL, {"cpu": "1"}, path="deployment.job_variables")


def test_every_error_is_reported_in_one_message():
    with pytest.raises(InvalidInput) as caught:
        validate_job_variables(POOL, {"cpu": "1", "memory": 1})
    assert "job_variables.cpu" in str(caught.value)
    assert "job_variables.memory" in str(caught.value)


def test_unknown_keys_are_rejected_by_default():
    with pytest.raises(InvalidInput) as caught:
        validate_job_variables(POOL, {"image": "x", "imagee": "y", "gpu.count": 1})
    message = str(caught.value)
    assert message.startswith("job_variables: unknown job variable(s) gpu, imagee;")
    assert "declares: cpu, env, image" in message


def test_unknown_keys_are_accepted_when_the_schema_allows_additional_properties():
    open_pool = {**POOL, "variables": {**POOL["variables"], "additionalProperties": True}}
    assert validate_job_variables(open_pool, {"anything": [1]}) == {"anything": [1]}


def test_additional_properties_given_as_a_schema_checks_the_unknown_keys():
    typed = {**POOL, "variables": {**POOL["variables"], "additionalProperties": {"type": "string"}}}
    assert validate_job_variables(typed, {"extra": "ok"}) == {"extra": "ok"}
    with pytest.raises(InvalidInput, match=r"^job_variables\.extra: 1 is not of type"):
        validate_job_variables(typed, {"extra": 1})


def test_required_variables_are_only_enforced_for_a_complete_set():
    assert validate_job_variables(POOL, {"cpu": "1m"}) == {"cpu": "1m"}
    with pytest.raises(InvalidInput, match="'image' is a required property"):
        validate_job_variables(POOL, {"cpu": "1m"}, required=True)


def test_non_string_env_values_are_coerced_to_strings():
    variables = {"env": {"N": 1, "F": 2.5, "B": False, "O": {"a": 1}, "S": "s", "GONE": None}}
    assert validate_job_variables(POOL, variables)["env"] == {
        "N": "1",
        "F": "2.5",
        "B": "false",
        "O": '{"a":1}',
        "S": "s",
        "GONE": None,
    }


def test_coercion_returns_a_copy_and_leaves_the_input_alone():
    variables = {"env": {"N": 1}}
    validate_job_variables(POOL, variables)
    assert variables == {"env": {"N": 1}}


def test_a_null_env_value_is_a_removal_and_passes_validation():
    assert validate_job_variables(POOL, {"env": {"A": None}}) == {"env": {"A": None}}


def test_dotted_env_keys_are_validated_and_coerced():
    assert validate_job_variables(POOL, {"env.PORT": 8080}) == {"env.PORT": "8080"}


def test_a_dotted_key_is_checked_on_top_of_the_variable_default():
    assert validate_job_variables(POOL, {"network.subnets": ["subnet-2"]}) == {
        "network.subnets": ["subnet-2"]
    }
    with pytest.raises(InvalidInput, match=r"^job_variables\.network\.subnets:"):
        validate_job_variables(POOL, {"network.subnets": "subnet-2"})


def test_a_dotted_key_with_an_empty_part_is_rejected():
    with pytest.raises(InvalidInput, match="empty part"):
        validate_job_variables(POOL, {"network..subnets": []})


@pytest.mark.parametrize("bad", [[], "x", None])
def test_job_variables_must_be_an_object(bad):
    with pytest.raises(InvalidInput, match=r"^job_variables: must be a JSON object"):
        validate_job_variables(POOL, bad)


def test_an_explicit_null_is_checked_against_the_variable_schema():
    with pytest.raises(InvalidInput, match=r"^job_variables\.image: None is not of type"):
        validate_job_variables(POOL, {"image": None})
