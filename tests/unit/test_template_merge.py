"""Merge precedence of job variables (design §4, "Merge precedence")."""

import pytest

from core.errors import InvalidInput
from core.templates import render, resolve_variables

TEMPLATE = {
    "job_configuration": {
        "image": "{{ image }}",
        "cpu": "{{ cpu }}",
        "env": "{{ env }}",
        "labels": "{{ labels }}",
        "resources": "{{ resources }}",
        "command": "{{ command }}",
    },
    "variables": {
        "type": "object",
        "properties": {
            "image": {"type": "string", "default": "base:1"},
            "cpu": {"type": "integer", "default": 256},
            "env": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "default": {"FROM_DEFAULT": "d", "SHARED": "default"},
            },
            "labels": {"type": "object", "default": {"team": "platform", "tier": "1"}},
            "resources": {"type": "object"},
            "command": {"type": ["string", "null"], "default": None},
        },
    },
}


def test_defaults_apply_when_nothing_overrides_them():
    assert resolve_variables(TEMPLATE, None, None) == {
        "image": "base:1",
        "cpu": 256,
        "env": {"FROM_DEFAULT": "d", "SHARED": "default"},
        "labels": {"team": "platform", "tier": "1"},
    }


def test_null_defaults_are_skipped_so_their_keys_are_removed():
    assert "command" not in render(TEMPLATE)


def test_deployment_beats_defaults_and_run_beats_deployment():
    values = resolve_variables(TEMPLATE, {"image": "dep:2", "cpu": 512}, {"cpu": 1024})
    assert (values["image"], values["cpu"]) == ("dep:2", 1024)


def test_env_is_merged_key_by_key_across_the_three_levels():
    values = resolve_variables(
        TEMPLATE,
        {"env": {"FROM_DEPLOYMENT": "p", "SHARED": "deployment"}},
        {"env": {"FROM_RUN": "r", "SHARED": "run"}},
    )
    assert values["env"] == {
        "FROM_DEFAULT": "d",
        "FROM_DEPLOYMENT": "p",
        "FROM_RUN": "r",
        "SHARED": "run",
    }


def test_an_env_key_set_to_null_is_removed():
    values = resolve_variables(
        TEMPLATE, {"env": {"FROM_DEFAULT": None, "X": "1"}}, {"env": {"X": None}}
    )
    assert values["env"] == {"SHARED": "default"}


def test_other_object_variables_are_replaced_wholesale():
    values = resolve_variables(TEMPLATE, {"labels": {"owner": "me"}}, None)
    assert values["labels"] == {"owner": "me"}


def test_an_explicit_null_replaces_a_value_and_renders_as_null():
    assert render(TEMPLATE, run_variables={"image": None})["image"] is None


def test_dotted_keys_set_nested_values():
    values = resolve_variables(
        TEMPLATE,
        {"env.FROM_DEPLOYMENT": "p", "labels.tier": "2"},
        {"resources.limits.memory": "1Gi", "resources.limits.cpu": "1"},
    )
    assert values["env"] == {"FROM_DEFAULT": "d", "SHARED": "default", "FROM_DEPLOYMENT": "p"}
    assert values["labels"] == {"team": "platform", "tier": "2"}
    assert values["resources"] == {"limits": {"memory": "1Gi", "cpu": "1"}}


def test_a_dotted_key_set_to_null_removes_the_nested_value():
    values = resolve_variables(TEMPLATE, {"env.SHARED": None, "labels.tier": None}, None)
    assert values["env"] == {"FROM_DEFAULT": "d"}
    assert values["labels"] == {"team": "platform"}


def test_a_dotted_env_key_names_one_variable_even_with_more_dots():
    values = resolve_variables(TEMPLATE, None, {"env.app.mode": "fast"})
    assert values["env"]["app.mode"] == "fast"


def test_dotted_keys_apply_after_plain_keys_of_the_same_level():
    values = resolve_variables(TEMPLATE, None, {"env.B": "dotted", "env": {"A": "plain"}})
    assert values["env"] == {"FROM_DEFAULT": "d", "SHARED": "default", "A": "plain", "B": "dotted"}


def test_a_run_dotted_key_lands_on_top_of_the_deployment_object():
    values = resolve_variables(
        TEMPLATE, {"resources": {"limits": {"cpu": "1"}}}, {"resources.limits.memory": "2Gi"}
    )
    assert values["resources"] == {"limits": {"cpu": "1", "memory": "2Gi"}}


def test_a_variable_literally_named_with_a_dot_is_not_split():
    template = {
        "job_configuration": {"k": "{{ a.b }}"},
        "variables": {"properties": {"a.b": {"type": "string"}}},
    }
    assert resolve_variables(template, None, {"a.b": "x"}) == {"a.b": "x"}
    assert render(template, run_variables={"a.b": "x"}) == {"k": "x"}


def test_non_string_env_values_become_text():
    values = resolve_variables(TEMPLATE, {"env": {"N": 3, "B": True}}, {"env.F": 1.5})
    assert (values["env"]["N"], values["env"]["B"], values["env"]["F"]) == ("3", "true", "1.5")


def test_a_dotted_key_through_a_non_object_says_what_is_wrong():
    with pytest.raises(InvalidInput, match=r"job_variables.*'image' is not an object"):
        resolve_variables(TEMPLATE, None, {"image.tag": "x"})


def test_merging_does_not_change_the_template_defaults():
    resolve_variables(TEMPLATE, {"env": {"SHARED": None}}, {"labels.tier": "9"})
    assert TEMPLATE["variables"]["properties"]["env"]["default"]["SHARED"] == "default"
    assert TEMPLATE["variables"]["properties"]["labels"]["default"]["tier"] == "1"
