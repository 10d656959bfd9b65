"""Docker pools: a flow run is a container on a Docker host, driven by the Docker SDK.

Exactly one container per claim: the container is *named* from the run id
and attempt, so a repeated submit meets Docker's own uniqueness check (409
Conflict on create) and adopts the container it already made instead of
starting a second one.

``auto_remove`` is carried out by this provider, not by Docker's
``HostConfig.AutoRemove``: a container Docker removes on exit takes its exit
code and ``OOMKilled`` flag with it, and the run's final state depends on
them.  The provider removes the container once it has read them.  (A
container labelled ``pushpool.io/auto-remove`` is removed by whichever
worker sees it finish, so a worker restart does not leak it.)

The SDK is imported inside the provider, never at module import, so a
Lambda that imports ``providers.registry`` does not load it.

Modules: ``request`` (the pure ``build_request``), ``provider``
(``DockerProvider``), ``status`` (container state -> ``InfraStatus``),
``errors`` (SDK errors -> ``InfrastructureError``).
"""

from __future__ import annotations

from typing import Any

from providers.docker.provider import DockerProvider
from providers.docker.request import DockerRequest, build_request

__all__ = ["DockerProvider", "DockerRequest", "build_request", "make_provider"]


def make_provider(**options: Any) -> DockerProvider:
    """The registry's entry point (options: see ``DockerProvider``).

    ``base_url`` None means ``DOCKER_HOST`` or the local socket, as the docker CLI does.
    """
    return DockerProvider(**options)
