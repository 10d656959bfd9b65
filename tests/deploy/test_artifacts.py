"""The code artifact the functions run, as Lambda would run it.

``scripts/build_lambdas.py --only code`` builds it (wheels for manylinux,
CPython 3.13, from PyPI).  Lambda unzips it into /var/task next to a runtime
that provides only the standard library and boto3, so each handler that
template.yaml names must import from the unzipped artifact in a virtualenv
holding nothing but boto3: a dependency missing from ``CODE_DEPENDENCIES``
fails here, not on the first invocation in the cloud.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
PYTHON = "3.13"  # the template's runtime
ECS_BUDGET_BYTES = 50_000_000  # MB as build_lambdas.py prints them
FORBIDDEN = ("google", "azure", "modal", "typer", "rich", "uvicorn")
# The artifact is imported on this machine, so its native wheels (pydantic-core)
# must be for this CPU; the deployed default, arm64, is the same build otherwise.
HOST_ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """The environment without anything that would leak this interpreter's packages."""
    leaks = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONUSERBASE")
    env = {k: v for k, v in os.environ.items() if k not in leaks and not k.startswith("PUSHPOOL_")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="session")
def code_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lambda")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "build_lambdas.py"),
            "--only",
            "code",
            "--arch",
            HOST_ARCH,
            "--out",
            str(out),
        ],
        check=True,
        cwd=ROOT,
        timeout=900,
    )
    return out / "code.zip"


@pytest.fixture(scope="session")
def unzipped(code_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    task_root = tmp_path_factory.mktemp("var-task")
    with zipfile.ZipFile(code_artifact) as archive:
        archive.extractall(task_root)
    return task_root


def python_313() -> str:
    """An installed CPython 3.13 that runs (pyenv, PATH), else "3.13" for uv to find or fetch."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = [str(p) for p in sorted(pyenv.glob(f"{PYTHON}*/bin/python{PYTHON}"), reverse=True)]
    candidates += [found for found in [shutil.which(f"python{PYTHON}")] if found]
    for candidate in candidates:
        check = [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        answer = subprocess.run(check, capture_output=True, text=True, check=False, env=clean_env())
        if answer.returncode == 0 and answer.stdout.strip() == PYTHON:
            return candidate
    return PYTHON


@pytest.fixture(scope="session")
def lambda_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.13 virtualenv with boto3 only, like the Lambda runtime."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the Lambda-like virtualenv (the test extra installs it)")
    venv = tmp_path_factory.mktemp("runtime") / "venv"
    env = clean_env()
    subprocess.run(
        [uv, "venv", "--quiet", "--python", python_313(), str(venv)], check=True, env=env
    )
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), "boto3"], check=True, env=env
    )
    return python


def template_handlers() -> list[str]:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    names = {
        resource["Properties"]["Handler"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    return sorted(names)


def test_the_code_artifact_fits_the_ecs_dispatch_budget(code_artifact: Path):
    with zipfile.ZipFile(code_artifact) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        names = archive.namelist()
    zipped = code_artifact.stat().st_size
    print(f"\n{'artifact':<10} {'zipped MB':>10} {'unzipped MB':>12}")
    print(f"{'code':<10} {zipped / 1e6:>10.1f} {unzipped / 1e6:>12.1f}")
    assert unzipped < ECS_BUDGET_BYTES
    packages = {name.split("/")[0] for name in names}
    assert not packages & set(FORBIDDEN), "the ECS path ships no cloud SDK and no CLI library"
    assert {"core", "providers", "handlers"} <= packages


@pytest.mark.parametrize("handler", template_handlers())
def test_every_handler_the_template_names_imports_from_the_artifact_with_only_boto3(
    handler: str, unzipped: Path, lambda_python: Path
):
    module, _, attribute = handler.rpartition(".")
    probe = (
        "import importlib, json, sys\n"
        f"module = importlib.import_module({module!r})\n"
        f"entry = getattr(module, {attribute!r})\n"
        "print(json.dumps({'callable': callable(entry), 'file': module.__file__, "
        f"'loaded': sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r})}}))\n"
    )
    env = clean_env()
    env["PYTHONPATH"] = str(unzipped)  # /var/task comes first on Lambda's sys.path
    result = subprocess.run(
        [str(lambda_python), "-c", probe],
        cwd=unzipped,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["callable"] is True
    assert report["file"].startswith(str(unzipped))
    assert report["loaded"] == []
