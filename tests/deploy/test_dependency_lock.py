"""uv.lock is what CI tests: it must still say what pyproject.toml asks for.

`.ci/run` also runs `uv lock --check`; this test says *which* requirement
drifted, and holds the rule that every library the product runs on carries
an upper bound, so a new major cannot slip in underneath a fresh install.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
TOOLS_EXTRA = "test"  # linters and test tools: the lock pins them, no bound needed


def _declared() -> dict[tuple[str, str | None], Requirement]:
    project = PYPROJECT["project"]
    groups: list[tuple[str | None, list[str]]] = [(None, project["dependencies"])]
    groups.extend(project["optional-dependencies"].items())
    found = {}
    for extra, requirements in groups:
        for text in requirements:
            requirement = Requirement(text)
            found[(canonicalize_name(requirement.name), extra)] = requirement
    return found


def _locked_root() -> dict[str, object]:
    (root,) = [p for p in LOCK["package"] if p["name"] == PYPROJECT["project"]["name"]]
    return root


def _locked_versions() -> dict[str, Version]:
    return {
        canonicalize_name(p["name"]): Version(p["version"])
        for p in LOCK["package"]
        if "version" in p
    }


def test_the_lock_records_exactly_the_requirements_of_pyproject() -> None:
    recorded = {
        (
            canonicalize_name(entry["name"]),
            entry.get("marker", "").partition("extra == '")[2].rstrip("'") or None,
        ): (entry.get("specifier", ""))
        for entry in _locked_root()["metadata"]["requires-dist"]  # type: ignore[index]
    }
    declared = {key: str(req.specifier) for key, req in _declared().items()}
    normalise = lambda spec: ",".join(sorted(spec.split(","))) if spec else ""  # noqa: E731
    assert {k: normalise(v) for k, v in recorded.items()} == {
        k: normalise(v) for k, v in declared.items()
    }, "uv.lock is stale: run `uv lock` and commit it"


def test_every_locked_version_satisfies_its_declared_range() -> None:
    versions = _locked_versions()
    for (name, _extra), requirement in _declared().items():
        if name == PYPROJECT["project"]["name"]:
            continue  # the `all` extra names the project itself
        assert requirement.specifier.contains(versions[name], prereleases=True), (
            f"{name} {versions[name]} is locked, but pyproject.toml asks for {requirement}"
        )


def test_every_library_the_product_runs_on_has_an_upper_bound() -> None:
    unbounded = [
        str(req)
        for (name, extra), req in _declared().items()
        if extra != TOOLS_EXTRA
        and name != PYPROJECT["project"]["name"]
        and not any(spec.operator in {"<", "<=", "==", "~="} for spec in req.specifier)
    ]
    assert unbounded == [], f"add an upper bound (the next major) to: {unbounded}"
