"""``build_request`` for ACI: pure, golden-file tested, every job variable mapped."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import InfrastructureError
from providers.aci import AciRequest, make_provider
from tests.providers.contract import make_job
from tests.providers.golden_files import assert_golden
from tests.providers.test_aci import CONFIGURATION

RUN_ID = "5d0c7f1e-2f4b-4b7e-9d8e-1a2b3c4d5e6f"
IDENTITY = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/flows-rg/providers"
    "/Microsoft.ManagedIdentity/userAssignedIdentities/flows"
)
SUBNET = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/flows-rg/providers"
    "/Microsoft.Network/virtualNetworks/vnet/subnets/flows"
)
FULL = CONFIGURATION | {
    "gpu_count": 1,
    "gpu_sku": "V100",
    "subnet_ids": [SUBNET],
    "identities": ["SystemAssigned", IDENTITY],
    "image_registry": {"registry_url": "acme.azurecr.io", "identity": IDENTITY},
    "dns_servers": ["10.0.0.4"],
    "entrypoint": "/opt/entry.sh",
}


def as_json(request: AciRequest) -> dict[str, Any]:
    return {
        "subscription_id": request.subscription_id,
        "resource_group": request.resource_group,
        "keep_container_group": request.keep_container_group,
        "group": request.group.serialize(),
    }


def build(configuration: dict[str, Any]) -> AciRequest:
    return make_provider().build_request(
        make_job(configuration, run_id=RUN_ID, run_name="brisk-otter")
    )


def test_the_default_template_configuration_builds_the_golden_group():
    assert_golden("aci_container_group.json", as_json(build(CONFIGURATION)))


def test_gpu_subnets_identities_registry_and_dns_build_the_golden_group():
    assert_golden("aci_container_group_full.json", as_json(build(FULL)))


def test_identities_combine_system_and_user_assigned():
    identity = build(FULL).group.identity
    assert identity.type == "SystemAssigned, UserAssigned"
    assert list(identity.user_assigned_identities) == [IDENTITY]


def test_tag_keys_lose_the_characters_arm_forbids_and_carry_run_and_attempt():
    tags = build(CONFIGURATION | {"labels": {"pushpool.io/flow-run-id": RUN_ID}}).group.tags
    assert tags["pushpool.io_flow-run-id"] == RUN_ID
    assert (tags["pushpool-run-id"], tags["pushpool-attempt"]) == (RUN_ID, "1")


def test_build_request_creates_no_client():
    provider = make_provider(tenant_id="t", client_id="c", client_secret="s")
    provider.build_request(make_job(CONFIGURATION, run_id=RUN_ID))
    assert provider._clients == {} and provider._credential is None


@pytest.mark.parametrize("missing", ["subscription_id", "resource_group_name", "location", "image"])
def test_a_configuration_without_a_required_value_is_a_terminal_error_naming_it(missing: str):
    with pytest.raises(InfrastructureError) as raised:
        build(CONFIGURATION | {missing: None})
    assert raised.value.retryable is False
    assert missing in str(raised.value)
