"""The AWS deployment's configuration, read from the environment exactly as
template.yaml (and infra/modules/pushpool) set it:

* ``PUSHPOOL_DISPATCH_QUEUE_URL[_GCP|_AZURE|_MODAL]``: each provider family's
  dispatch queue (an empty value means the family is switched off);
* ``PUSHPOOL_DISPATCH_MAX_RECEIVE_COUNT``: deliveries before a dispatch
  message goes to the dead-letter queue (its last delivery crashes runs that
  still fail instead of leaving them claimed); 5 when unset, the template's
  default;
* ``PUSHPOOL_RUN_TOKEN_KEY_PARAMETER`` and ``PUSHPOOL_ADMIN_TOKEN_PARAMETER``:
  the names of the SSM SecureString parameters holding the run-token signing
  key and the seed admin token (``handlers.aws.parameters`` creates them when
  absent);
* ``PUSHPOOL_GCP_CREDENTIALS_SECRET``, ``PUSHPOOL_AZURE_CREDENTIALS_SECRET``,
  ``PUSHPOOL_MODAL_TOKEN_SECRET``: each family's credentials secret;
* ``PUSHPOOL_MANAGED_CLUSTER``, ``_SUBNETS``, ``_SECURITY_GROUPS`` (comma
  separated), ``_EXECUTION_ROLE_ARN``, ``_TASK_ROLE_ARN``, ``_LOG_GROUP``: the
  resources the stack made for ``managed`` pools;
* ``PUSHPOOL_RUN_RETENTION_DAYS``: how long finished runs are kept (TTL).

Values are names and ARNs only; secrets are read from SSM (the stack's own)
or Secrets Manager (the families' credentials) when first needed, once per
cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from handlers.aws.families import QUEUE_URL_VARIABLES, SECRET_VARIABLES, Family

DEFAULT_MAX_RECEIVE_COUNT = 5
RETIRED_VARIABLES = {
    "PUSHPOOL_RUN_TOKEN_KEY_SECRET": "PUSHPOOL_RUN_TOKEN_KEY_PARAMETER",
    "PUSHPOOL_ADMIN_TOKEN_SECRET": "PUSHPOOL_ADMIN_TOKEN_PARAMETER",
}


@dataclass(frozen=True)
class ManagedResources:
    """What ``managed`` pools run on; only the stack's names, never the user's."""

    cluster: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    execution_role_arn: str | None = None
    task_role_arn: str | None = None
    log_group: str | None = None

    def provider_options(self) -> dict[str, object]:
        """Keyword arguments for ``providers.ecs.make_provider``."""
        options: dict[str, object] = {
            "cluster": self.cluster,
            "subnets": self.subnets,
            "security_groups": self.security_groups,
            "execution_role_arn": self.execution_role_arn,
            "task_role_arn": self.task_role_arn,
            "log_group": self.log_group,
        }
        return {k: v for k, v in options.items() if v}


@dataclass(frozen=True)
class AwsSettings:
    queues: Mapping[Family, str] = field(default_factory=dict)
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    run_token_key_parameter: str | None = None
    admin_token_parameter: str | None = None
    credential_secrets: Mapping[Family, str] = field(default_factory=dict)
    managed: ManagedResources = field(default_factory=ManagedResources)
    run_retention: timedelta | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AwsSettings:
        for retired, now in RETIRED_VARIABLES.items():
            if _set(env, retired):  # ignoring it would silently change the key or the token
                raise ValueError(
                    f"{retired} (a Secrets Manager secret) is no longer read: set {now} to an "
                    f"SSM SecureString parameter's name instead (docs/aws.md, upgrading)"
                )
        queues = {f: env[v].strip() for f, v in QUEUE_URL_VARIABLES.items() if _set(env, v)}
        secrets = {f: env[v].strip() for f, v in SECRET_VARIABLES.items() if _set(env, v)}
        days = _number(env, "PUSHPOOL_RUN_RETENTION_DAYS")
        return cls(
            queues=queues,
            max_receive_count=int(
                _number(env, "PUSHPOOL_DISPATCH_MAX_RECEIVE_COUNT") or DEFAULT_MAX_RECEIVE_COUNT
            ),
            run_token_key_parameter=_text(env, "PUSHPOOL_RUN_TOKEN_KEY_PARAMETER"),
            admin_token_parameter=_text(env, "PUSHPOOL_ADMIN_TOKEN_PARAMETER"),
            credential_secrets=secrets,
            managed=ManagedResources(
                cluster=_text(env, "PUSHPOOL_MANAGED_CLUSTER"),
                subnets=_list(env, "PUSHPOOL_MANAGED_SUBNETS"),
                security_groups=_list(env, "PUSHPOOL_MANAGED_SECURITY_GROUPS"),
                execution_role_arn=_text(env, "PUSHPOOL_MANAGED_EXECUTION_ROLE_ARN"),
                task_role_arn=_text(env, "PUSHPOOL_MANAGED_TASK_ROLE_ARN"),
                log_group=_text(env, "PUSHPOOL_MANAGED_LOG_GROUP"),
            ),
            run_retention=timedelta(days=days) if days else None,
        )

    def family_of_queue(self, queue_arn: str) -> Family | None:
        """The family whose queue has this ARN (matched by queue name, the
        last part of both the ARN and the URL)."""
        name = queue_arn.rsplit(":", 1)[-1]
        for family, url in self.queues.items():
            if url.rstrip("/").rsplit("/", 1)[-1] == name:
                return family
        return None


def _set(env: Mapping[str, str], name: str) -> bool:
    return bool(env.get(name, "").strip())


def _text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, not {raw!r}") from exc
    return value if value > 0 else None
