"""``python -m tests.bench [name ...]``: run benchmarks, print a table, write JSON.

Every module of this package that defines ``BENCHMARKS`` contributes
benchmarks; a module with only a ``main()`` (a script written on its own) is
run as one, its printed report kept as text.  Without names, every benchmark
that is not opt-in runs; ``--list`` shows them all.  Results are merged into
``bench-results.json`` (``--out``), one entry per benchmark with the machine
it ran on, so a benchmark run alone later updates only its own entry.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any

from tests import bench
from tests.bench._baseline import comparison, run_baseline
from tests.bench.harness import (
    Benchmark,
    Figure,
    Result,
    Stopwatch,
    describe_machine,
    machine,
)

SKIP = {"__main__", "harness"}


def _script(name: str, main: Any) -> Benchmark:
    """A module with only ``main()``: run with its defaults, its report kept as text."""

    def run(_: dict[str, Any]) -> Result:
        out = io.StringIO()
        takes_argv = bool(inspect.signature(main).parameters)
        argv, sys.argv = sys.argv, [name]  # its own argparse must not see our flags
        try:
            with contextlib.redirect_stdout(out):
                main([]) if takes_argv else main()
        finally:
            sys.argv = argv
        return Result(
            name=name,
            title=f"{name} (its own report)",
            repetitions="see report",
            text=out.getvalue(),
        )

    return Benchmark(name=name, title=f"{name} (script)", run=run)


def discover() -> dict[str, Benchmark]:
    found: dict[str, Benchmark] = {}
    scripts: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name in SKIP or info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"tests.bench.{info.name}")
        for benchmark in getattr(module, "BENCHMARKS", ()):
            found[benchmark.name] = benchmark
        if not hasattr(module, "BENCHMARKS") and callable(getattr(module, "main", None)):
            scripts[info.name] = _script(info.name, module.main)
    for name, script in scripts.items():
        found.setdefault(name, script)  # a module wrapped by a benchmark is not run twice
    return found


def _parser(benchmarks: dict[str, Benchmark]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all but opt-in)")
    parser.add_argument("--full", action="store_true", help="the full sizes of issue 9")
    parser.add_argument("--out", default="bench-results.json", help="where to merge results")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        help="also run the same benchmarks on commit REV (git archive) and compare",
    )
    for benchmark in benchmarks.values():
        group = parser.add_argument_group(benchmark.name)
        for option in benchmark.options:
            group.add_argument(
                f"--{benchmark.name.replace('_', '-')}-{option.name.replace('_', '-')}",
                dest=f"{benchmark.name}__{option.name}",
                type=option.kind,
                default=None,
                help=f"{option.help} (default {option.default}, --full {option.full})",
            )
    return parser


def _cell(value: float, unit: str) -> str:
    if unit in {"ms", "s", "x", "MiB"} or abs(value) < 100:
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"
    return f"{value:,.0f}"


def table(results: list[Result]) -> str:
    header = ("benchmark", "figure", "n", "median", "min-max", "p95", "p99", "unit")
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        for figure in result.figures:
            rows.append(_row(result.name, figure))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _row(name: str, figure: Figure) -> tuple[str, ...]:
    spread = (
        ""
        if figure.n == 1
        else f"{_cell(figure.min, figure.unit)}-{_cell(figure.max, figure.unit)}"
    )
    p95 = figure.percentiles.get("p95")
    p99 = figure.percentiles.get("p99")
    return (
        name,
        figure.name,
        str(figure.n),
        _cell(figure.median, figure.unit),
        spread,
        "" if p95 is None else _cell(p95, figure.unit),
        "" if p99 is None else _cell(p99, figure.unit),
        figure.unit,
    )


def _merge(path: Path, results: list[Result], info: dict[str, Any]) -> None:
    existing: dict[str, Any] = {}
    if path.exists():
        with contextlib.suppress(ValueError, OSError):
            existing = json.loads(path.read_text())
    entries = dict(existing.get("benchmarks", {}))
    for result in results:
        entries[result.name] = {"machine": info, **result.to_json()}
    path.write_text(json.dumps({"benchmarks": entries}, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    benchmarks = discover()
    args = _parser(benchmarks).parse_args(argv)
    if args.list:
        for benchmark in benchmarks.values():
            print(f"{benchmark.name:18} {'(opt-in) ' if benchmark.opt_in else ''}{benchmark.title}")
        return 0
    unknown = [n for n in args.names if n not in benchmarks]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    chosen = args.names or [n for n, b in benchmarks.items() if not b.opt_in]
    info = machine()
    print(f"machine: {describe_machine(info)}", flush=True)
    results: list[Result] = []
    failed = 0
    for name in chosen:
        benchmark = benchmarks[name]
        given = {o.name: getattr(args, f"{name}__{o.name}") for o in benchmark.options}
        values = benchmark.values(full=args.full, given=given)
        print(f"\n== {name}: {benchmark.title} {values or ''}", flush=True)
        clock = Stopwatch()
        try:
            result = benchmark.run(values)
        except Exception:
            traceback.print_exc()
            failed += 1
            continue
        result.seconds = round(clock.seconds, 1)
        result.params = {**values, **result.params}
        results.append(result)
        if result.text:
            print(result.text.rstrip())
        for note in result.notes:
            print(f"  - {note}")
        print(f"  ({result.repetitions}; {result.seconds} s)", flush=True)
    if results:
        print("\n" + table(results))
        _merge(Path(args.out), results, info)
        print(f"\nwritten: {args.out}")
    if args.baseline and results:
        before = run_baseline(args.baseline, _without_baseline(argv or sys.argv[1:]))
        print(f"\nbefore ({args.baseline}) and after (this tree), medians:")
        print(comparison(args.baseline, before, results))
    return 1 if failed else 0


def _without_baseline(argv: list[str]) -> list[str]:
    """This run's arguments for the baseline run: no ``--baseline``, no ``--out``."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in {"--baseline", "--out"}:
            skip = True
            continue
        if arg.startswith(("--baseline=", "--out=")):
            continue
        kept.append(arg)
    return kept


if __name__ == "__main__":
    sys.exit(main())
