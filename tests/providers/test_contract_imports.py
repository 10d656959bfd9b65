"""Import budget: a dispatcher for one cloud never loads another cloud's SDK.

Each check runs in a fresh interpreter, because this test process has long
since imported every SDK.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

SDKS = {
    "google.cloud.run_v2": "cloud_run",
    "google.cloud.aiplatform_v1": "vertex_ai",
    "azure.mgmt.containerinstance": "aci",
    "modal": "modal",
}


def loaded_after(code: str) -> set[str]:
    """The SDK root modules present in ``sys.modules`` after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import sys
        print(",".join(m for m in {sorted(SDKS)!r} if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    return set(filter(None, out.split(",")))


def test_importing_the_provider_modules_loads_no_sdk():
    assert (
        loaded_after(
            "import providers.cloud_run, providers.vertex_ai, providers.aci, providers.modal"
        )
        == set()
    )


@pytest.mark.parametrize(
    ("module", "configuration", "sdk"),
    [
        ("cloud_run", {"project": "p", "image": "i"}, "google.cloud.run_v2"),
        ("vertex_ai", {"project": "p", "image": "i"}, "google.cloud.aiplatform_v1"),
        (
            "aci",
            {"subscription_id": "s", "resource_group_name": "g", "location": "l", "image": "i"},
            "azure.mgmt.containerinstance",
        ),
    ],
)
def test_building_a_request_loads_only_that_providers_sdk(
    module: str, configuration: dict[str, str], sdk: str
):
    loaded = loaded_after(
        f"""
        from core.ports import Job
        from providers.{module} import make_provider
        job = Job(run_id="r", attempt=1, run_name="n", pool_name="p", pool_type="t",
                  deployment_id=None, configuration={configuration!r})
        make_provider().build_request(job)
        """
    )
    assert loaded == {sdk}


def test_the_modal_provider_with_its_seam_fake_never_loads_the_modal_sdk():
    loaded = loaded_after(
        """
        from core.ports import Job
        from providers.modal import make_provider
        from tests.fakes.modal_client import FakeModal
        fake = FakeModal()
        fake.deploy("a", "f")
        provider = make_provider(client=fake)
        job = Job(run_id="r", attempt=1, run_name="n", pool_name="p", pool_type="t",
                  deployment_id=None, configuration={"app_name": "a", "function_name": "f"})
        infra_id = provider.submit(provider.build_request(job), idempotency_key="r-1")
        provider.status(infra_id)
        """
    )
    assert loaded == set()
