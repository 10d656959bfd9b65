"""Build the Lambda artifacts that template.yaml and infra/ deploy.

One code artifact (``core``, ``providers``, ``handlers`` and the
dependencies the functions import) serves every function; the Google, Azure
and Modal SDKs go into one layer each, attached only to the dispatch
function of that family.  The ECS path therefore ships nothing but our code,
pydantic, Powertools and the template/schedule libraries; boto3 comes from
the Lambda runtime.

    python scripts/build_lambdas.py [--out build/lambda] [--arch x86_64|arm64]
        [--only code|gcp|azure|modal ...]

Prints every artifact's zipped and unzipped size.  Wheels are fetched for the
Lambda platform (manylinux, CPython 3.13), never built locally.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_VERSION = "3.13"  # the Lambda runtime in template.yaml
CODE_PACKAGES = ("core", "providers", "handlers")
# What the functions import besides boto3 (which the runtime provides).
CODE_DEPENDENCIES = (
    "pydantic>=2.6,<3",
    "aws-lambda-powertools>=3.0",
    "jsonschema>=4.21",
    "croniter>=2.0",
    "python-dateutil>=2.8,<3",
    "pyyaml>=6",
    "google-re2>=1.1,<2",  # template patterns in linear time (issue 14)
)
LAYERS = {
    "gcp": ("google-cloud-run>=0.10", "google-auth>=2.28"),
    "azure": ("azure-mgmt-containerinstance>=10.1", "azure-identity>=1.15"),
    "modal": ("modal>=0.64",),
}
# Packages the runtime already has, or that only the CLI and tests use.
EXCLUDED_DIRS = {"__pycache__", "cli", "ui_src", "tests"}


def pip_install(requirements: tuple[str, ...], target: Path, arch: str) -> None:
    # Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_28
    # wheels run there too, and google-re2 ships no older ones.
    machine = "x86_64" if arch == "x86_64" else "aarch64"
    platforms = [f"--platform=manylinux2014_{machine}", f"--platform=manylinux_2_28_{machine}"]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-warn-conflicts",
        "--target",
        str(target),
        *platforms,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--upgrade",
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
    parser.add_argument("--arch", choices=("x86_64", "arm64"), default="x86_64")
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
