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
using it loads nothing of boto3 or the cloud SDKs.
"""

from importlib import metadata as _metadata

from pushpool.client import ApiError, Client, RunTimeout
from pushpool.deployments import deploy

try:
    __version__ = _metadata.version("pushpool")
except _metadata.PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0+unknown"

__all__ = ["ApiError", "Client", "RunTimeout", "__version__", "deploy"]
