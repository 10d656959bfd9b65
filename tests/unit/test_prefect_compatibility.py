"""A base job template written for Prefect loads and renders as Prefect renders it.

Each file in ``data/prefect_*.json`` holds a Prefect-shaped template
(``definitions`` and ``$ref``, ``anyOf``, ``enum``, ``pattern``, minimum and
maximum), job variables, and the job configuration Prefect's worker renders
for them (defaults updated by the variables, then ``apply_values``).  Where
pushpool deliberately differs (design §4), the case carries
``pushpool_renders`` and says why.
"""

import json
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.templates import render, validate_job_variables, validate_template

DATA = Path(__file__).parent / "data"
FILES = sorted(DATA.glob("prefect_*.json"))


def load(path):
    return json.loads(path.read_text())


def cases():
    for path in FILES:
        for case in load(path)["cases"]:
            yield pytest.param(path, case, id=f"{path.stem}: {case['name']}")


def rejects():
    for path in FILES:
        for index, case in enumerate(load(path).get("rejects", [])):
            yield pytest.param(path, case, id=f"{path.stem}: reject {index}")


def test_there_are_prefect_templates_to_check():
    assert len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.stem)
def test_a_prefect_template_passes_validation(path):
    validate_template(load(path)["base_job_template"])


@pytest.mark.parametrize("path, case", cases())
def test_a_prefect_template_renders_what_prefect_renders(path, case):
    template = load(path)["base_job_template"]
    variables = validate_job_variables(template, case["job_variables"])
    expected = case.get("pushpool_renders", case["prefect_renders"])
    assert render(template, run_variables=variables) == expected


@pytest.mark.parametrize("path, case", cases())
def test_every_difference_from_prefect_is_explained(path, case):
    if "pushpool_renders" in case:
        assert case["pushpool_renders"] != case["prefect_renders"]
        assert case["why"].strip()


@pytest.mark.parametrize("path, case", rejects())
def test_variables_a_prefect_schema_forbids_are_rejected_with_their_path(path, case):
    template = load(path)["base_job_template"]
    with pytest.raises(InvalidInput) as caught:
        validate_job_variables(template, case["job_variables"])
    assert caught.value.path.startswith(case["path"])
