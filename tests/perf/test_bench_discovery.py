"""Every benchmark module still imports: a helper renamed in the tests it borrows from
must not leave ``python -m tests.bench`` broken until someone runs it."""

from tests.bench.__main__ import discover


def test_every_benchmark_module_imports_and_is_listed() -> None:
    names = discover()
    assert {"admission", "cost_model", "dispatch_latency", "scale", "worker_death"} <= set(names)
