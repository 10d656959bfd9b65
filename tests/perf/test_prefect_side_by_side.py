"""``prefect_side_by_side`` needs Prefect only when it runs: without it, it skips cleanly.

The measurement itself (servers, workers, timings) is the benchmark's, run by
hand; here only what must hold everywhere: the skip, the opt-in, and that the
throughput counter neither loses requests nor counts a refused one as served.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.bench import prefect_side_by_side as side_by_side
from tests.bench.__main__ import discover
from tests.bench.harness import ROOT


@pytest.mark.parametrize("given", [None, "/nonexistent/bin/prefect"])
def test_without_prefect_it_reports_a_skip_and_measures_nothing(
    given: str | None, monkeypatch: pytest.MonkeyPatch
):
    if given is None:
        monkeypatch.delenv("PUSHPOOL_PREFECT", raising=False)
    else:
        monkeypatch.setenv("PUSHPOOL_PREFECT", given)
    benchmark = discover()["prefect_side_by_side"]
    result = benchmark.run(benchmark.values(full=False, given={}))
    assert result.figures == []
    assert any("skipped: Prefect is not installed" in note for note in result.notes)


def test_a_prefect_setting_that_is_not_prefect_stops_before_measuring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    impostor = tmp_path / "prefect"
    impostor.write_text("#!/bin/sh\necho 'no such command' >&2\nexit 2\n")
    impostor.chmod(0o755)
    monkeypatch.setenv("PUSHPOOL_PREFECT", str(impostor))
    benchmark = discover()["prefect_side_by_side"]
    with pytest.raises(RuntimeError, match=r"is not Prefect's CLI.*exited 2 no such command"):
        benchmark.run(benchmark.values(full=False, given={}))


def test_it_is_opt_in_and_its_command_exits_zero_without_prefect(tmp_path: Path):
    assert discover()["prefect_side_by_side"].opt_in
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PUSHPOOL_PREFECT" and not k.startswith("PREFECT_")
    }
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "prefect_side_by_side", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "skipped: Prefect is not installed" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_the_throughput_counter_counts_every_request_and_no_refused_one_as_answered():
    sent = 0
    lock = threading.Lock()

    def send(_: httpx.Client) -> httpx.Response:
        nonlocal sent
        with lock:
            sent += 1
            number = sent
        if number % 5 == 0:
            raise httpx.ConnectError("refused")
        return httpx.Response(503 if number % 3 == 0 else 201)

    load = side_by_side.hammer("http://127.0.0.1:9", send, requests=150, threads=4)
    assert sent == 150
    refused = sum(1 for n in range(1, 151) if n % 5 == 0)
    busy = sum(1 for n in range(1, 151) if n % 5 and n % 3 == 0)
    assert dict(load.errors) == {"ConnectError": refused, "503": busy}
    assert len(load.latencies) == 150 - refused - busy
    assert load.per_second == pytest.approx(len(load.latencies) / load.seconds)
