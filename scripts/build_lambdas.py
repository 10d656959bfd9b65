"""Build the Lambda artifacts that template.yaml and infra/ deploy.

One code artifact (``core``, ``providers``, ``handlers``, ``pushpool`` and the
dependencies the functions import) serves every function; the Google, Azure
and Modal SDKs go into one layer each, attached only to the dispatch
function of that family.  The ECS path therefore ships nothing but our code,
pydantic, Powertools and the template/schedule libraries; boto3 comes from
the Lambda runtime.

    python scripts/build_lambdas.py [--out build/lambda] [--arch arm64|x86_64]
        [--only code|gcp|azure|modal ...]

Prints every artifact's zipped and unzipped size.  Wheels are fetched for the
Lambda platform (manylinux, CPython 3.13), never built locally, at the
versions ``uv.lock`` pins: what is deployed is what CI tested.  It needs uv
(``uv run --locked python scripts/build_lambdas.py`` provides it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.13"  # the Lambda runtime in template.yaml
# pushpool for ``pushpool.defaults`` only: its client needs httpx, which is not shipped
# (an import contract keeps the Lambda handlers off it).
CODE_PACKAGES = ("core", "providers", "handlers", "pushpool")
# What the functions import besides boto3 (which the runtime provides); versions from uv.lock.
CODE_DEPENDENCIES = (
    "pydantic",
    "aws-lambda-powertools",
    "aws-xray-sdk",  # Powertools' Tracer (handlers/aws/observability.py)
    "jsonschema",
    "croniter",
    "python-dateutil",
    "pyyaml",
    "google-re2",  # template patterns in linear time (issue 14)
)
LAYERS = {
    "gcp": ("google-cloud-run", "google-auth"),
    "azure": ("azure-mgmt-containerinstance", "azure-identity"),
    "modal": ("modal",),
}
# Packages the runtime already has, or that only the CLI and tests use.
EXCLUDED_DIRS = {"__pycache__", "cli", "ui_src", "tests"}


def uv() -> str:
    """uv itself: `uv run` names it in $UV; else the environment's own (the test extra), else PATH."""
    beside = Path(sys.executable).parent / "uv"
    found = os.environ.get("UV") or (str(beside) if beside.exists() else shutil.which("uv"))
    if found is None:
        raise SystemExit("uv is needed: run `uv run --locked python scripts/build_lambdas.py`")
    return found


def locked_versions(workdir: Path) -> Path:
    """Every package of uv.lock as a pin, to constrain what the artifacts install."""
    constraints = workdir / "constraints.txt"
    export = [uv(), "export", "--locked", "--all-extras", "--no-hashes", "--no-emit-project"]
    with constraints.open("w") as out:
        subprocess.run([*export, "--quiet"], cwd=ROOT, stdout=out, check=True)
    return constraints


def pip_install(requirements: tuple[str, ...], target: Path, arch: str) -> None:
    # The python3.13 runtime is Amazon Linux 2023: glibc 2.34.
    platform = f"{'x86_64' if arch == 'x86_64' else 'aarch64'}-manylinux_2_34"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "--python-platform",
            platform,
            "--python-version",
            PYTHON_VERSION,
            "--only-binary",
            ":all:",
            "--constraints",
            str(locked_versions(Path(tmp))),
            *requirements,
        ]
        subprocess.run(cmd, check=True)
    # boto3/botocore arrive as transitive dependencies; the runtime provides them.
    for name in ("boto3", "botocore", "s3transfer", "jmespath", "urllib3"):
        for path in target.glob(f"{name}*"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def copy_code(target: Path) -> None:
    for package in CODE_PACKAGES:
        shutil.copytree(
            ROOT / package,
            target / package,
            ignore=lambda _dir, names: [
                n for n in names if n in EXCLUDED_DIRS or n.endswith(".pyc")
            ],
        )


def zip_dir(source: Path, archive: Path) -> tuple[int, int]:
    unzipped = 0
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source))
                unzipped += path.stat().st_size
    return archive.stat().st_size, unzipped


def build(name: str, out: Path, arch: str) -> tuple[Path, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        if name == "code":
            pip_install(CODE_DEPENDENCIES, staging, arch)
            copy_code(staging)
        else:
            # Layers put Python packages under python/ (Lambda adds it to sys.path).
            pip_install(LAYERS[name], staging / "python", arch)
        archive = out / f"{name}.zip"
        zipped, unzipped = zip_dir(staging, archive)
    return archive, zipped, unzipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "lambda")
    parser.add_argument("--arch", choices=("arm64", "x86_64"), default="arm64")
    parser.add_argument("--only", nargs="*", choices=("code", *LAYERS), default=None)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{'artifact':<12} {'zipped MB':>10} {'unzipped MB':>12}")
    for name in args.only or ("code", *LAYERS):
        archive, zipped, unzipped = build(name, args.out, args.arch)
        print(f"{name:<12} {zipped / 1e6:>10.1f} {unzipped / 1e6:>12.1f}  {archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
