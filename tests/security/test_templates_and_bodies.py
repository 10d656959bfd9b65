"""What a caller can put into a job, and how much a caller can send.

* Rendering cannot add keys the template does not declare: whatever values
  the variables take, the rendered configuration has, at every position the
  template spells out, only the template's own keys; a value that looks
  like a placeholder is inserted as text, never rendered again.
* Job variables outside the pool's schema are rejected (422, naming the
  variable) on deployment create and update and on run creation, and the
  store is left unchanged.
* Request bodies are limited: over the limit → 413 with a detail, whether
  the client declares the length or streams the body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InvalidInput
from core.templates import PLACEHOLDER, render, validate_job_variables, validate_template
from handlers.api.body import MAX_BODY_BYTES
from tests.fuzz.live import STORES, LiveApi, live_api

NAMES = ["image", "cpu", "env", "command", "labels", "spec"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


def placeholders(names: list[str]) -> st.SearchStrategy[str]:
    name = st.sampled_from(names)
    whole = name.map(lambda n: "{{ " + n + " }}")
    embedded = st.tuples(st.text(max_size=4), name).map(lambda p: f"{p[0]}-{{{{ {p[1]} }}}}")
    return whole | embedded


def configurations(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    leaf = scalars | placeholders(names) | st.lists(scalars | placeholders(names), max_size=3)
    keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
    return st.recursive(
        st.dictionaries(keys, leaf, max_size=4),
        lambda inner: st.dictionaries(keys, leaf | inner, max_size=4),
        max_leaves=12,
    )


@st.composite
def templates_and_variables(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    template = {
        "job_configuration": draw(configurations(names)),
        "variables": {"type": "object", "properties": {n: {} for n in names}},
    }
    values = draw(st.dictionaries(st.sampled_from(names), json_values | placeholders(NAMES)))
    return template, values


def is_whole_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.fullmatch(value) is not None


def assert_keys_within(template: Any, rendered: Any, where: str = "job_configuration") -> None:
    """At every position the template spells out, only the template's keys."""
    if is_whole_placeholder(template):
        return  # the variable's own (schema-checked) value goes here
    if isinstance(template, dict):
        assert isinstance(rendered, dict), where
        extra = set(rendered) - set(template)
        assert not extra, f"{where}: rendering added {sorted(extra)}"
        for key, value in rendered.items():
            assert_keys_within(template[key], value, f"{where}.{key}")
    elif isinstance(template, str):
        assert isinstance(rendered, str), where


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates_and_variables())
def test_rendering_adds_no_key_the_template_does_not_spell_out(
    case: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    template, values = case
    validate_template(template)
    rendered = render(template, run_variables=values)
    assert_keys_within(template["job_configuration"], rendered)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
    st.text(alphabet="xyz_", min_size=1, max_size=8),
    json_values,
)
def test_a_job_variable_the_schema_does_not_declare_is_rejected(
    declared: list[str], name: str, value: Any
) -> None:
    template = {
        "job_configuration": {n: "{{ " + n + " }}" for n in declared},
        "variables": {"type": "object", "properties": {n: {} for n in declared}},
    }
    with pytest.raises(InvalidInput) as raised:
        validate_job_variables(template, {name: value})
    assert name in raised.value.detail


def test_a_value_that_looks_like_a_placeholder_is_inserted_as_text() -> None:
    template = {
        "job_configuration": {"image": "{{ image }}", "command": "run {{ command }}"},
        "variables": {"type": "object", "properties": {"image": {}, "command": {}, "secret": {}}},
    }
    values = {"image": "{{ secret }}", "command": "{{ secret }}", "secret": "s3cr3t"}
    rendered = render(template, run_variables=values)
    assert rendered == {"image": "{{ secret }}", "command": "run {{ secret }}"}


# -- over the API ----------------------------------------------------------------------------


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest) -> Iterator[tuple[LiveApi, dict[str, str]]]:
    with live_api(request.param) as api:
        http = api.client(api.admin)
        http.post("/work_pools/", json={"name": "strict", "type": "process"})
        flow = http.post("/flows/", json={"name": "flow"}).json()
        body = {"name": "dep", "flow_id": flow["id"], "work_pool_name": "strict"}
        deployment = http.post("/deployments/", json=body).json()
        yield api, {"flow": flow["id"], "deployment": deployment["id"]}


def refused(api: LiveApi, send: Any, status: int) -> str:
    before = api.snapshot()
    response = send()
    assert response.status_code == status, response.text
    assert api.snapshot() == before
    detail: str = response.json()["detail"]
    return detail


@pytest.mark.parametrize(
    "variables",
    [{"privileged": True}, {"env": {"A": "1"}, "host_network": True}, {"nope.deeper": 1}],
    ids=["unknown", "unknown-beside-known", "unknown-dotted"],
)
def test_job_variables_outside_the_schema_are_rejected_everywhere(
    live: tuple[LiveApi, dict[str, str]], variables: dict[str, Any]
) -> None:
    api, ids = live
    http = api.client(api.admin)
    unknown = next(iter(k for k in variables if k != "env")).split(".")[0]
    create = {
        "name": "other",
        "flow_id": ids["flow"],
        "work_pool_name": "strict",
        "job_variables": variables,
    }
    attempts = [
        lambda: http.post("/deployments/", json=create),
        lambda: http.patch(f"/deployments/{ids['deployment']}", json={"job_variables": variables}),
        lambda: http.post(
            f"/deployments/{ids['deployment']}/create_flow_run",
            json={"state": {"type": "SCHEDULED"}, "job_variables": variables},
        ),
    ]
    for attempt in attempts:
        assert unknown in refused(api, attempt, 422)


def test_a_body_over_the_limit_is_refused_with_413_declared_or_streamed(
    live: tuple[LiveApi, dict[str, str]],
) -> None:
    api, _ = live
    http = api.client(api.admin)
    oversized = b'{"name": "' + b"x" * MAX_BODY_BYTES + b'"}'

    def streamed() -> Iterator[bytes]:
        for start in range(0, len(oversized), 64 * 1024):
            yield oversized[start : start + 64 * 1024]

    headers = {"content-type": "application/json"}
    declared = refused(api, lambda: http.post("/flows/", content=oversized, headers=headers), 413)
    chunked = refused(api, lambda: http.post("/flows/", content=streamed(), headers=headers), 413)
    assert str(MAX_BODY_BYTES) in declared
    assert str(MAX_BODY_BYTES) in chunked


def test_a_body_within_the_limit_is_read(live: tuple[LiveApi, dict[str, str]]) -> None:
    api, _ = live
    http = api.client(api.admin)
    body = {"name": "roomy", "type": "process", "description": "d" * (MAX_BODY_BYTES - 100)}
    answer = http.post("/work_pools/", json=body)
    assert answer.status_code == 201, answer.text
