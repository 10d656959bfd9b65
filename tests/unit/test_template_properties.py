"""Properties of rendering that hold for every template (hypothesis)."""

import json

from hypothesis import given
from hypothesis import strategies as st

from core.templates import PLACEHOLDER, render

NAMES = ["a", "b", "c_1", "d-2"]

# Text that cannot contain a placeholder (no "{{" can form).
plain_text = st.text(max_size=12).filter(lambda text: "{" not in text)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | plain_text
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_text, inner, max_size=4),
    max_leaves=12,
)


def declaring(job_configuration):
    return {
        "job_configuration": job_configuration,
        "variables": {"type": "object", "properties": {name: {} for name in NAMES}},
    }


def exact(value):
    """JSON text that tells 1 from 1.0 from True (== does not)."""
    return json.dumps(value, sort_keys=True)


@given(st.dictionaries(plain_text, json_values, max_size=6))
def test_a_template_without_placeholders_renders_unchanged(configuration):
    assert exact(render(declaring(configuration))) == exact(configuration)


def placeholder(name):
    return st.sampled_from(["{{ %s }}", "{{%s}}", "{{  %s }}"]).map(lambda form: form % name)


pieces = st.one_of(plain_text, st.sampled_from(NAMES).flatmap(placeholder))
templated_strings = st.lists(pieces, min_size=1, max_size=4).map("".join)
templated = st.recursive(
    templated_strings | scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(plain_text, inner, max_size=4),
    max_leaves=16,
)


@given(
    st.dictionaries(plain_text, templated, max_size=5),
    st.fixed_dictionaries({name: json_values for name in NAMES}),
)
def test_no_placeholder_survives_when_every_variable_is_given(configuration, values):
    rendered = render(declaring(configuration), run_variables=values)
    assert not PLACEHOLDER.search(json.dumps(rendered))


@given(st.sampled_from(NAMES), st.one_of(json_values, st.text(max_size=20), templated_strings))
def test_a_whole_string_placeholder_renders_exactly_the_value(name, value):
    """Even a value that itself looks like a placeholder: rendering is one pass."""
    tpl = declaring({"key": "{{ " + name + " }}", "list": ["{{" + name + "}}"]})
    rendered = render(tpl, run_variables={name: value})
    assert exact(rendered) == exact({"key": value, "list": [value]})
