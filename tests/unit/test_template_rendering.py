"""Rendering a base job template (design §4, "Rendering")."""

import pytest

from core.errors import InvalidInput
from core.templates import render


def template(job_configuration, **properties):
    """A template declaring ``properties`` (name -> schema, {} when None)."""
    declared = {name: schema or {} for name, schema in properties.items()}
    return {
        "job_configuration": job_configuration,
        "variables": {"type": "object", "properties": declared},
    }


@pytest.mark.parametrize(
    "value", [42, 1.5, True, False, None, "text", {"a": [1, {"b": None}]}, [1, "two", False]]
)
def test_a_whole_string_placeholder_becomes_the_typed_value(value):
    rendered = render(template({"k": "{{ v }}"}, v=None), run_variables={"v": value})
    assert rendered == {"k": value}
    assert type(rendered["k"]) is type(value)


def test_whitespace_inside_the_braces_is_optional():
    tpl = template({"a": "{{v}}", "b": "{{   v   }}", "c": "x{{v}}y"}, v=None)
    assert render(tpl, run_variables={"v": 7}) == {"a": 7, "b": 7, "c": "x7y"}


def test_a_missing_variable_removes_the_key_that_held_it():
    tpl = template({"keep": 1, "gone": "{{ v }}", "nested": {"gone": "{{ v }}"}}, v=None)
    assert render(tpl) == {"keep": 1, "nested": {}}


def test_a_missing_variable_removes_the_list_item_that_held_it():
    tpl = template({"items": ["a", "{{ v }}", "b", "{{ w }}"]}, v=None, w=None)
    assert render(tpl, run_variables={"w": 3}) == {"items": ["a", "b", 3]}


@pytest.mark.parametrize(
    "value, text",
    [
        ("plain", "plain"),
        (3, "3"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        ({"a": 1, "b": [1, 2]}, '{"a":1,"b":[1,2]}'),
        (["x", 1], '["x",1]'),
        ("ünïcode", "ünïcode"),
        (None, ""),
    ],
)
def test_an_embedded_placeholder_becomes_the_value_as_text(value, text):
    tpl = template({"k": "<{{ v }}>"}, v=None)
    assert render(tpl, run_variables={"v": value}) == {"k": f"<{text}>"}


def test_an_embedded_missing_variable_becomes_an_empty_string():
    tpl = template({"k": "--flag={{ v }} --other={{ w }}"}, v=None, w=None)
    assert render(tpl, run_variables={"w": "x"}) == {"k": "--flag= --other=x"}


def test_surrounding_whitespace_makes_a_placeholder_embedded():
    tpl = template({"k": " {{ v }}"}, v=None)
    assert render(tpl, run_variables={"v": 5}) == {"k": " 5"}


def test_several_placeholders_in_one_string_are_all_replaced():
    tpl = template({"k": "{{ a }}/{{ b }}:{{ a }}"}, a=None, b=None)
    assert render(tpl, run_variables={"a": "x", "b": 1}) == {"k": "x/1:x"}


def test_substitution_is_one_pass_so_inserted_text_is_never_templated():
    tpl = template({"whole": "{{ a }}", "embedded": "<{{ a }}|{{ b }}>"}, a=None, b=None)
    rendered = render(tpl, run_variables={"a": "{{ b }}", "b": "B"})
    assert rendered == {"whole": "{{ b }}", "embedded": "<{{ b }}|B>"}


def test_inserted_objects_are_not_templated_either():
    tpl = template({"k": "{{ a }}"}, a=None, b=None)
    value = {"inner": "{{ b }}", "list": ["{{ b }}"]}
    assert render(tpl, run_variables={"a": value, "b": "B"}) == {"k": value}


def test_nested_objects_and_lists_are_rendered_recursively():
    tpl = template(
        {"spec": {"containers": [{"image": "{{ image }}", "args": ["run", "{{ flag }}"]}]}},
        image=None,
        flag=None,
    )
    rendered = render(tpl, run_variables={"image": "img:1", "flag": "--fast"})
    assert rendered == {"spec": {"containers": [{"image": "img:1", "args": ["run", "--fast"]}]}}


def test_dotted_paths_and_indexes_reach_inside_a_variable():
    tpl = template(
        {
            "cpu": "{{ resources.limits.cpu }}",
            "first": "{{ volumes[0] }}",
            "deep": "{{ matrix[1][0] }}",
            "dotted_index": "{{ volumes.1 }}",
            "text": "mem={{ resources.limits.memory }}",
        },
        resources=None,
        volumes=None,
        matrix=None,
    )
    rendered = render(
        tpl,
        run_variables={
            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}},
            "volumes": ["/a:/a", "/b:/b"],
            "matrix": [[1], [2, 3]],
        },
    )
    assert rendered == {
        "cpu": "500m",
        "first": "/a:/a",
        "deep": 2,
        "dotted_index": "/b:/b",
        "text": "mem=1Gi",
    }


@pytest.mark.parametrize(
    "placeholder", ["{{ resources.limits.gpu }}", "{{ volumes[5] }}", "{{ image.tag }}"]
)
def test_a_path_that_leads_nowhere_counts_as_missing(placeholder):
    tpl = template({"k": placeholder}, resources=None, volumes=None, image=None)
    values = {"resources": {"limits": {}}, "volumes": [], "image": "img"}
    assert render(tpl, run_variables=values) == {}


def test_values_without_placeholders_are_left_alone():
    configuration = {"n": 1, "f": 1.5, "b": False, "z": None, "s": "no braces {here}"}
    assert render(template(configuration)) == configuration


def test_the_empty_template_renders_to_an_empty_configuration():
    assert render({}) == {}


def test_rendering_reads_no_environment_variables(monkeypatch):
    monkeypatch.setenv("PUSHPOOL_SECRET_FOR_TEST", "leaked")
    tpl = {"job_configuration": {"a": "{{ $PUSHPOOL_SECRET_FOR_TEST }}", "b": "x{{ $HOME }}"}}
    assert render(tpl) == {"b": "x"}


def test_rendering_does_not_change_its_inputs():
    tpl = template({"env": "{{ env }}", "k": ["{{ v }}"]}, env={"default": {"A": "1"}}, v=None)
    deployment = {"env": {"B": "2"}, "v": {"x": 1}}
    run = {"env.C": "3"}
    snapshot = repr((tpl, deployment, run))
    render(tpl, deployment_variables=deployment, run_variables=run)
    assert repr((tpl, deployment, run)) == snapshot


def test_a_malformed_placeholder_path_is_an_invalid_input():
    with pytest.raises(InvalidInput, match="malformed placeholder"):
        render(template({"k": "{{ a..b }}"}, a=None))
