"""Benchmarks: ``python -m tests.bench [name ...]`` (see ``__main__.py``).

A benchmark module exposes ``BENCHMARKS``: a list of ``harness.Benchmark``
(name, title, ``run(options) -> harness.Result``, options with a default and a
``--full`` size).  A module with only ``main()`` is run as a script.  Results
state the machine, repetitions, median and min-max; nothing asserts on time.
"""
