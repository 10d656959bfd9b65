"""What a flow run's job configuration renders to, safe to show a person.

A user debugging a run wants to see exactly what pushpool hands (or handed)
the infrastructure: the pool's template rendered with the deployment's and
the run's job variables, plus what submission injects.  The same values can
carry secrets (the run's own token, a password in ``env``), so every value
whose name or shape looks secret is replaced by ``MASK`` before it leaves
the core.
The run token is never even computed here: ``MASK`` is rendered in its place.

The configuration is rendered from the pool's *current* template; if the
template changed after the run was submitted, the infrastructure received
the older rendering.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import NotFound
from core.models import JSON, Deployment, FlowRun
from core.services.context import Context
from core.services.jobs import RUN_TOKEN_ENV, build_job

MASK = "********"

SECRET_NAME = re.compile(
    r"secret|token|passw(or)?d|passphrase|pwd|credential|private|signature|cookie|session"
    r"|auth|api[_-]?key|access[_-]?key|(^|[_.-])key$|^key|dsn$|connection[_-]?string"
    r"|jwt|bearer|hmac|salt|webhook"
    r"|(database|db|redis|mongo(db)?|postgres(ql)?|mysql|amqp|broker|celery|smtp)[_-]?ur[il]",
    re.IGNORECASE,
)
"""Names whose values are masked: ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``,
``GITHUB_TOKEN``, ``api-key``, ``SENTRY_DSN``, ``DATABASE_URL``,
``SLACK_WEBHOOK_URL``, ``JWT``, ``BEARER``, ``HMAC``..."""

SECRET_VALUE = re.compile(
    r"[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"  # a URL with a password: scheme://user:pw@
    r"|[a-z][a-z0-9+.-]*://[^/\s:@]{16,}@"  # or with a token as its user: https://ghp_...@
    r"|^\s*(bearer|basic|token)\s+\S{8,}"  # an Authorization header's value
    r"|^eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]*$"  # a JWT
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|^(AKIA|ASIA)[0-9A-Z]{16}$"  # AWS access key ids
    r"|^(ghp|gho|ghs|ghu|github_pat|glpat|xox[abposr]|sk|sk_live|rk_live)[_-][\w-]{16,}"
    r"|^(?=[\w+=-]*\d)(?=[\w+=-]*[a-z])[\w+=-]{32,}$",  # a long key: letters and digits, no spaces
    re.IGNORECASE,
)
"""Values masked whatever their name: URLs carrying credentials, bearer and
basic credentials, JWTs, private keys, well-known key prefixes (AWS, GitHub,
GitLab, Slack, Stripe) and any unbroken run of 32 or more letters, digits,
``_ - + =`` that mixes letters and digits (a random key); a UUID is an id,
not a secret, and is shown."""

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


@dataclass(frozen=True)
class RenderedJob:
    """The masked configuration and the paths of the values that were masked."""

    configuration: JSON
    masked: tuple[str, ...]


def looks_secret(name: str) -> bool:
    return name == RUN_TOKEN_ENV or bool(SECRET_NAME.search(name))


def value_looks_secret(value: object) -> bool:
    """Whether a value is shaped like a credential, whatever its name says."""
    if not isinstance(value, str) or _UUID.match(value):
        return False
    return bool(SECRET_VALUE.search(value))


def mask_secrets(value: Any, *, path: str = "") -> tuple[Any, list[str]]:
    """A copy of ``value`` with secret-looking entries masked, and their paths.

    Two shapes carry named values: mappings (``{"DB_PASSWORD": "..."}``, the
    shape of ``env``) and name/value pairs (``[{"name": "DB_PASSWORD",
    "value": "..."}]``, the shape of ECS and Kubernetes environments).  Only
    scalar values are masked: a secret-looking key holding an object or a list
    (Modal's ``secrets``, a list of secret *names*) is walked, not hidden.
    """
    masked: list[str] = []
    if isinstance(value, Mapping):
        pair_name = value.get("name")
        is_pair = isinstance(pair_name, str) and "value" in value and looks_secret(pair_name)
        out: dict[str, Any] = {}
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            hide = (is_pair and key == "value") or looks_secret(str(key))
            hide = hide or value_looks_secret(item)
            if hide and _scalar(item) and item not in (None, ""):
                out[key] = MASK
                masked.append(here)
            else:
                out[key], inner = mask_secrets(item, path=here)
                masked.extend(inner)
        return out, masked
    if isinstance(value, list):
        items: list[Any] = []
        for index, item in enumerate(value):
            copy, inner = mask_secrets(item, path=f"{path}[{index}]")
            items.append(copy)
            masked.extend(inner)
        return items, masked
    if value_looks_secret(value):  # a bare value, such as an argument in a command list
        return MASK, [path]
    return value, masked


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def rendered_job(ctx: Context, run_id: str, *, api_url: str) -> RenderedJob:
    """The run's job configuration as its provider would receive it, masked.

    Raises ``InvalidInput`` (with the path) when the pool's current template
    cannot render the run's variables: that is the reason the run would fail.
    """
    run = ctx.store.get_run(run_id)
    pool = ctx.store.get_pool_by_id(run.work_pool_id)
    job = build_job(
        pool=pool, run=run, deployment=_deployment(ctx, run), api_url=api_url, run_token=MASK
    )
    configuration, masked = mask_secrets(job.configuration)
    return RenderedJob(configuration=configuration, masked=tuple(masked))


def _deployment(ctx: Context, run: FlowRun) -> Deployment | None:
    """The run's deployment, or None if it was deleted since (its command is gone too)."""
    if run.deployment_id is None:
        return None
    try:
        return ctx.store.get_deployment(run.deployment_id)
    except NotFound:
        return None
