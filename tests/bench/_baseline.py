"""``--baseline REV``: the same benchmarks on an earlier commit, in the same run.

The earlier code is exported with ``git archive`` into a temporary directory
and its own ``python -m tests.bench`` runs there, in this interpreter (the
same locked environment), with the same arguments.  Its results come back
through its ``--out`` file and are shown beside this run's, figure by figure.
Nothing of the old code is kept in the tree: "before" is whatever the named
commit did.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_baseline(rev: str, argv: list[str]) -> dict[str, Any]:
    """Run ``python -m tests.bench *argv`` on ``rev``; its results by benchmark name."""
    with tempfile.TemporaryDirectory(prefix="pushpool-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        archive = Path(tmp) / "tree.tar"
        subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), rev],
            check=True,
        )
        with tarfile.open(archive) as tar:
            tar.extractall(tree, filter="data")
        out = Path(tmp) / "baseline.json"
        print(f"\n== baseline {rev}: python -m tests.bench {' '.join(argv)}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "tests.bench", *argv, "--out", str(out)],
            cwd=tree,
            check=False,
            env=_env(tree),
        )
        if not out.exists():
            return {}
        return dict(json.loads(out.read_text()).get("benchmarks", {}))


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)  # the old tree's packages, not this checkout's
    return env


def comparison(rev: str, before: dict[str, Any], after: list[Any]) -> str:
    """A table of every figure measured in both runs: baseline median, now, ratio."""
    header = ("benchmark", "figure", f"before ({rev[:12]})", "after", "after/before", "unit")
    rows: list[tuple[str, ...]] = [header]
    for result in after:
        # A name can repeat within one result (the same breakdown per run and per idle
        # month): the n-th figure of a name is compared with the n-th of the baseline.
        old: dict[str, list[dict[str, Any]]] = {}
        for f in before.get(result.name, {}).get("figures", []):
            old.setdefault(f["name"], []).append(f)
        seen: dict[str, int] = {}
        for figure in result.figures:
            index = seen.get(figure.name, 0)
            seen[figure.name] = index + 1
            priors = old.get(figure.name, [])
            if index >= len(priors):
                continue
            prior = priors[index]
            ratio = f"{figure.median / prior['median']:.2f}" if prior["median"] else "—"
            rows.append(
                (
                    result.name,
                    figure.name,
                    f"{prior['median']:,.4g}",
                    f"{figure.median:,.4g}",
                    ratio,
                    figure.unit,
                )
            )
    if len(rows) == 1:
        return f"no figure of this run was measured on {rev}"
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
