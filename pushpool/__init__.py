"""pushpool's Python API: a client for the REST API and Prefect-style ``deploy``.

    import pushpool

    with pushpool.Client("http://127.0.0.1:4200/api") as api:
        api.create_pool(name="local", type="process")
        deployment = pushpool.deploy(
            "flows/etl.py:etl", name="nightly", work_pool_name="local", client=api
        )
        run = api.create_flow_run(deployment["id"], parameters={"day": "2026-01-01"})
        print(api.wait_for_run(run["id"], timeout=120)["state_type"])

It talks HTTP only: it imports none of the server's packages, so a script
using it loads nothing of boto3 or the cloud SDKs.  ``pushpool.defaults``
(where the server listens) imports nothing at all.
"""

from __future__ import annotations

from importlib import import_module as _import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushpool.client import ApiError, Client, RunTimeout
    from pushpool.deployments import deploy

    __version__: str

# Loaded on first use, so ``pushpool.defaults`` can be read without httpx
# (the Lambda functions carry none) or importlib.metadata (cold starts).
_LAZY = {
    "ApiError": "pushpool.client",
    "Client": "pushpool.client",
    "RunTimeout": "pushpool.client",
    "deploy": "pushpool.deployments",
}

__all__ = ["ApiError", "Client", "RunTimeout", "__version__", "deploy"]


def _version() -> str:
    from importlib import metadata  # noqa: PLC0415

    try:
        return metadata.version("pushpool")
    except metadata.PackageNotFoundError:  # a source checkout that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name not in _LAZY:
        raise AttributeError(f"module 'pushpool' has no attribute {name!r}")
    value = getattr(_import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
