"""Process pools: a flow run is a local subprocess of the pull worker.

Why a provider at all for a subprocess: the worker drives every pool type
through the same ``Provider`` port, so a process run is submitted, polled
and cancelled exactly like a container.  The child gets its own session
(process group), so cancelling reaches the grandchildren a shell spawns
(POSIX only: process groups and signals).

The environment is *not* the worker's whole environment: the worker holds a
worker-scoped API token and whatever else its host exports, which a flow run
must not see.  The child gets the job's ``env`` over only the variables
named in ``INHERITED_ENV`` (system basics a program needs to start).

The child's output (stdout and stderr, merged) is drained continuously, so
a child never blocks on a full pipe, into a bounded in-memory ring of
``OUTPUT_BUFFER_LINES`` numbered lines that ``read_logs`` serves (the
worker ships it to the API); when a reader falls that far behind, the
oldest lines go and ``read_logs`` counts them as dropped.

Infrastructure ids are ``"<pid>:<start time>"``, the start time being the
kernel's start tick from ``/proc/<pid>/stat``, so a pid the kernel reused for
another process is never mistaken for ours after a worker restart.

Modules: ``request`` (the pure ``build_request``), ``provider``
(``ProcessProvider``), ``status`` (an exit code or a vanished pid ->
``InfraStatus``), ``errors`` (``OSError`` -> ``InfrastructureError``) and
``procfs`` (infrastructure ids, ``/proc`` and process-group signals).
"""

from __future__ import annotations

from typing import Any

from providers.process.provider import ProcessProvider
from providers.process.request import ProcessRequest, build_request

__all__ = ["ProcessProvider", "ProcessRequest", "build_request", "make_provider"]


def make_provider(**options: Any) -> ProcessProvider:
    """The registry's entry point (options: see ``ProcessProvider``)."""
    return ProcessProvider(**options)
