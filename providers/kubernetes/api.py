"""The Kubernetes REST API as plain JSON, over the official client's configuration and connections.

The typed API classes of the ``kubernetes`` package change shape between
majors (37 validates every body against pydantic models and rejects fields
the API server itself would accept or ignore; attribute names and call
signatures moved too).  So the provider sends the manifest as the API's own
JSON and reads Jobs and Pods as dicts, and takes from the package only what
has held still across its majors: loading a ``Configuration`` (kubeconfig,
in-cluster, token refresh hooks), its ``auth_settings()``, and the urllib3
pool its ``RESTClientObject`` builds from that configuration (CA bundle,
client certificates, SNI, proxy, retries).  See docs/decisions.md.

The package is imported on first use, never at module import.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any
from urllib.parse import quote, urlencode

from core.errors import InfrastructureError
from providers.kubernetes.errors import ApiError

log = logging.getLogger(__name__)
_WARNING = re.compile(r'\d{3} \S+ "(.*)"')


class KubeApi:
    """JSON requests to one API server, authenticated the way the official client would."""

    def __init__(self, configuration: Any, *, timeout: float) -> None:
        import urllib3  # noqa: PLC0415 - lazy on purpose (module docstring)
        from kubernetes.client.rest import RESTClientObject  # noqa: PLC0415

        self._configuration = configuration
        self._pool = RESTClientObject(configuration).pool_manager
        self._timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The decoded response object; ``ApiError`` for any status outside 2xx."""
        response = self._send(method, path, query=query, body=body, accept="application/json")
        try:
            decoded = json.loads(response.data)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise InfrastructureError(
                f"kubernetes: {method} {path} answered {response.status} without a JSON object "
                "(a proxy in the way?)",
                retryable=True,
            )
        return decoded

    def read_text(self, path: str) -> str:
        """A plain-text resource (a pod's log); ``ApiError`` for any status outside 2xx."""
        response = self._send("GET", path, accept="text/plain")
        return bytes(response.data).decode("utf-8", errors="replace")

    def _send(
        self,
        method: str,
        path: str,
        *,
        accept: str,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        url = str(self._configuration.host).rstrip("/") + path
        if query:
            url += "?" + urlencode(query)
        headers = {"Accept": accept, "User-Agent": "pushpool"}
        # Read on every call: the configuration's refresh hook renews expiring tokens here.
        for auth in self._configuration.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        response = self._pool.request(
            method, url, body=data, headers=headers, timeout=self._timeout, preload_content=True
        )
        for warning in response.headers.getlist("Warning"):
            log.warning("kubernetes: %s %s: %s", method, path, warning_text(warning))
        if not 200 <= response.status < 300:
            raise ApiError.from_response(response.status, response.data, response.reason)
        return response


def warning_text(header: str) -> str:
    """The text of a ``Warning: 299 - "..."`` header (how the API server reports dropped fields)."""
    quoted = _WARNING.fullmatch(header.strip())
    return quoted.group(1).replace('\\"', '"') if quoted else header


def job_path(namespace: str, name: str = "") -> str:
    """The path of a namespace's Jobs, or of one Job; parts are escaped, never interpreted."""
    path = f"/apis/batch/v1/namespaces/{quote(namespace, safe='')}/jobs"
    return f"{path}/{quote(name, safe='')}" if name else path


def pods_path(namespace: str, pod: str = "") -> str:
    """The path of a namespace's Pods, or of one Pod; parts are escaped, never interpreted."""
    path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods"
    return f"{path}/{quote(pod, safe='')}" if pod else path


def load_configuration(
    *, kubeconfig: str | None, context: str | None, in_cluster: bool | None
) -> Any:
    """An explicit kubeconfig, else in-cluster when running in a pod, else ~/.kube/config."""
    import yaml  # noqa: PLC0415
    from kubernetes import client, config  # noqa: PLC0415

    # The loader reports a missing file or context as ConfigException, but a file
    # that is not a kubeconfig at all (text, a list, broken YAML, wrong shapes)
    # escapes as whatever its parsing hit: all mean the same to the user.
    unusable = (config.ConfigException, yaml.YAMLError, OSError, TypeError, ValueError, KeyError)
    configuration = client.Configuration()
    if in_cluster is None:
        in_cluster = kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ
    try:
        if in_cluster:
            # kubernetes' config loaders carry no annotations (its generated client does)
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except unusable as exc:
        where = "in-cluster" if in_cluster else (kubeconfig or "~/.kube/config")
        raise InfrastructureError(
            f"kubernetes: no usable configuration ({where}): {exc}", retryable=False
        ) from exc
    return configuration
