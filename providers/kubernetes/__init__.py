"""Kubernetes pools: a flow run is a batch/v1 Job, sent as the API's own JSON.

The official ``kubernetes`` package loads the configuration (kubeconfig,
in-cluster) and opens the connection; the Job and its Pods are plain JSON,
never the client's models, so every client major from 29 on behaves the
same and the API server alone judges a manifest (``api`` says why).

The pool's ``job_manifest`` arrives already rendered by the template engine;
``build_request`` only completes it the way Prefect's Kubernetes worker does
(env, command, image, labels) and gives it a deterministic name, so a
repeated submit meets the API server's own uniqueness check (409) instead
of creating a second Job.  Finished Jobs are left to
``ttlSecondsAfterFinished`` (the ``finished_job_ttl`` variable): deleting
them here would race with reading their result.

A pod stuck on an image pull or on scheduling does not fail its Job in
Kubernetes; it waits forever.  ``status`` turns such a pod into CRASHED once
it is older than ``pod_watch_timeout_seconds``, with Kubernetes' reason, so
the slot is freed and the user learns why.

Pod output is not streamed (``stream_output`` is ignored): ``kubectl logs``
with the ``pushpool.io/flow-run-id`` label finds it.

Modules: ``request`` (the pure ``build_request``), ``provider``
(``KubernetesProvider``), ``api`` (JSON requests over the client's
configuration), ``status`` (failed Jobs and stuck pods -> ``InfraStatus``),
``errors`` (API errors -> ``InfrastructureError``).
"""

from __future__ import annotations

from typing import Any

from providers.kubernetes.provider import KubernetesProvider
from providers.kubernetes.request import KubernetesRequest, build_request

__all__ = ["KubernetesProvider", "KubernetesRequest", "build_request", "make_provider"]


def make_provider(**options: Any) -> KubernetesProvider:
    """The registry's entry point.

    ``configuration``: a ``kubernetes.client.Configuration`` (tests pass one
    with ``host``); otherwise ``kubeconfig``/``context``, or in-cluster
    service-account credentials when running inside a pod.
    ``request_timeout``: seconds to wait for the API server's answer.
    """
    return KubernetesProvider(**options)
