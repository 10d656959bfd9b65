"""``python -m tests.bench._markdown [bench-results.json] [name ...]``: figures as Markdown.

The tables in docs/performance.md are pasted from this, so the figures
there are exactly what the runner wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(entry: dict[str, Any]) -> str:
    if not entry["figures"]:
        return "\n".join(f"- {note}" for note in entry["notes"]) or "(no figures)"
    found = {p for f in entry["figures"] for p in f["percentiles"]}
    percentiles = sorted(found - {"p50"}, key=lambda p: int(p[1:]))  # p50 is the median
    median = "median (p50)" if "p50" in found else "median"
    header = ["figure", "n", median, "min to max", *percentiles, "unit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for figure in entry["figures"]:
        spread = "" if figure["n"] == 1 else f"{_number(figure['min'])} to {_number(figure['max'])}"
        cells = [
            figure["name"].strip(),
            str(figure["n"]),
            _number(figure["median"]),
            spread,
            *[
                _number(figure["percentiles"][p]) if p in figure["percentiles"] else ""
                for p in percentiles
            ],
            figure["unit"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    params = ", ".join(f"{k}={v}" for k, v in sorted(entry.get("params", {}).items()))
    lines.append("")
    said = "; ".join(part for part in (entry["repetitions"], params) if part)
    lines.append(f"*{said}; {entry['seconds']} s.*")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else Path("bench-results.json")
    entries = json.loads(path.read_text())["benchmarks"]
    for name in argv[1:] or sorted(entries):
        print(f"### {name}\n\n{table(entries[name])}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
