"""Azure Container Instances (the module moved here as ``provider``; the next commit splits it)."""

from providers.aci.provider import (  # noqa: F401
    ATTEMPT_TAG,
    KEEP_TAG,
    RUN_TAG,
    AciProvider,
    AciRequest,
    build_group,
    make_provider,
    parse_group_id,
    translated,
)
