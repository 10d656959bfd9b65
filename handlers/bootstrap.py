"""The one composition root: settings, store, pool types, providers, clock, ids,
and the use cases over them, once per profile (``handlers.profiles``).

Everything is built lazily, once per process (once per Lambda cold start),
from the environment; tests pass overrides instead::

    container = bootstrap(store=SqliteStore(path), clock=lambda: NOW)
    container.services(Profile.CLOUD).dispatcher

Environment: ``PUSHPOOL_STORE`` (``sqlite:///path`` or ``dynamodb://TABLE``;
default an SQLite file under the user's data directory), ``PUSHPOOL_API_URL``
(what runs are told to report to), ``PUSHPOOL_RUN_TOKEN_KEY`` (the key that
signs run tokens; else the SSM SecureString parameter named by
``PUSHPOOL_RUN_TOKEN_KEY_PARAMETER``; when neither is set one is generated and
kept in the store), ``PUSHPOOL_AUTH`` (``off`` only for a loopback server),
and the AWS deployment's variables (``handlers.aws.settings``): with dispatch
queue URLs set, the trigger is the SQS one, providers get the family's
credentials secret and the managed pools' resources.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import NotFound
from core.models import Token
from core.ports import Clock, DispatchTrigger, IdFactory, LogStore, PoolTypes, Provider, Store
from core.services.auth import hash_secret, run_token
from core.services.context import Context, NoTrigger
from handlers.aws.families import Family, dispatch_setup_problem, family_of
from handlers.aws.parameters import StackParameters
from handlers.aws.secrets import Secrets
from handlers.aws.settings import AwsSettings
from handlers.aws.sqs import SqsDispatchTrigger
from handlers.clock import new_id, utc_now
from handlers.wakeups import Wakeups
from pushpool.defaults import DEFAULT_API_URL

if TYPE_CHECKING:  # the use cases load with the first handler that asks for them
    from handlers.profiles import Profile, Services

SIGNING_KEY_CACHE = "run-token-signing-key"
SEED_ADMIN_TOKEN_ID = "admin-token-secret"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where local state lives: ``$XDG_DATA_HOME/pushpool`` or ``~/.local/share/pushpool``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pushpool"


def default_store_url(env: Mapping[str, str] | None = None) -> str:
    return f"sqlite:///{data_dir(env) / 'pushpool.db'}"


@dataclass(frozen=True)
class Settings:
    store_url: str
    api_url: str = DEFAULT_API_URL
    run_token_key: bytes | None = None
    auth: bool = True
    submit_lease: timedelta = timedelta(minutes=5)
    extra: Mapping[str, str] = field(default_factory=dict)
    aws: AwsSettings = field(default_factory=AwsSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = env.get("PUSHPOOL_RUN_TOKEN_KEY")
        return cls(
            store_url=env.get("PUSHPOOL_STORE") or default_store_url(env),
            api_url=env.get("PUSHPOOL_API_URL") or DEFAULT_API_URL,
            run_token_key=key.encode() if key else None,
            auth=env.get("PUSHPOOL_AUTH", "on").lower() not in {"off", "0", "false", "no"},
            aws=AwsSettings.from_env(env),
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


class ReadThroughCache:
    """The store's small key-value cache with an in-process copy.

    Providers keep immutable lookups there (ECS task-definition ARNs keyed by
    content hash, container names keyed by revision ARN), so a warm function
    reads each once instead of once per run.  A value replaced elsewhere
    (a deregistered definition re-registered by another function) is
    replaced here too when the provider meets the stale one and re-resolves.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._values: dict[str, str] = {}

    def get_cached(self, key: str) -> str | None:
        if key not in self._values:
            value = self._store.get_cached(key)
            if value is None:
                return None
            self._values[key] = value
        return self._values[key]

    def put_cached(self, key: str, value: str) -> None:
        self._store.put_cached(key, value)
        self._values[key] = value


class Container:
    """Holds the adapters and the use cases; each is created on first use and then reused."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        providers: Mapping[str, Provider] | None = None,
        clock: Clock | None = None,
        ids: IdFactory | None = None,
        trigger: DispatchTrigger | None = None,
        types: PoolTypes | None = None,
        secrets: Secrets | None = None,
        parameters: StackParameters | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or utc_now
        self.ids: IdFactory = ids or new_id
        self._trigger = trigger
        self._store = store
        self._types = types
        self._providers: dict[str, Provider] = dict(providers or {})
        self._lock = threading.RLock()
        self._signing_key: bytes | None = settings.run_token_key
        self._admin_seeded = False
        self.secrets = secrets or Secrets()
        self.parameters = parameters or StackParameters()
        self._services: dict[Profile, Services] = {}

    def services(self, profile: Profile) -> Services:
        """The use cases as ``profile`` drives them (``handlers.profiles``), built once."""
        from handlers.profiles import Services  # noqa: PLC0415 (lazy by design)

        with self._lock:
            if profile not in self._services:
                self._services[profile] = Services(self, profile)
            return self._services[profile]

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from core.store import open_store  # noqa: PLC0415 (lazy by design)

                    self._store = open_store(
                        self.settings.store_url,
                        clock=self.clock,
                        retention=self.settings.aws.run_retention,
                    )
        return self._store

    @property
    def logs(self) -> LogStore:
        """Run log lines live in the same store (both adapters implement the port)."""
        store = self.store
        if not isinstance(store, LogStore):
            raise TypeError(f"{type(store).__name__} keeps no run logs")  # a test's partial fake
        return store

    @property
    def trigger(self) -> DispatchTrigger:
        """The override, else the SQS trigger when dispatch queues are
        configured (the cloud), else none (the tick picks work up)."""
        if self._trigger is None:
            with self._lock:
                if self._trigger is None:
                    self._trigger = self._sqs_trigger() or NoTrigger()
        return self._trigger

    @property
    def wakeups(self) -> Wakeups | None:
        """The local trigger's wake-ups for long-polls; None on Lambda, where
        no invocation can hear another's (docs/decisions.md)."""
        found = getattr(self.trigger, "wakeups", None)
        return found if isinstance(found, Wakeups) else None

    @property
    def dispatch_queues(self) -> SqsDispatchTrigger | None:
        """The SQS trigger, or None outside the cloud (no queue URLs set)."""
        trigger = self.trigger
        return trigger if isinstance(trigger, SqsDispatchTrigger) else None

    def _sqs_trigger(self) -> SqsDispatchTrigger | None:
        if not self.settings.aws.queues:
            return None
        return SqsDispatchTrigger(
            self.settings.aws.queues,
            pool_type_of=self._pool_type,
            types=self.types,
            clock=self.clock,
        )

    def _pool_type(self, pool_name: str) -> str | None:
        try:
            return self.store.get_pool(pool_name).type
        except NotFound:
            return None

    @property
    def types(self) -> PoolTypes:
        if self._types is None:
            from providers.registry import REGISTRY  # noqa: PLC0415

            self._types = REGISTRY
        return self._types

    def provider(self, pool_type: str) -> Provider:
        """The provider for a pool type, loaded (and its SDK imported) on first use."""
        if pool_type not in self._providers:
            from providers.registry import load_provider  # noqa: PLC0415

            with self._lock:
                if pool_type not in self._providers:
                    options = self.provider_options(pool_type)
                    self._providers[pool_type] = load_provider(pool_type, **options)
        return self._providers[pool_type]

    def provider_options(self, pool_type: str) -> dict[str, Any]:
        """What a provider is built with here: ECS caches task definitions in
        the store (read through an in-process copy) and runs ``managed`` pools
        on the stack's resources; the other families get their credentials
        secret, read once."""
        family = family_of(pool_type)
        if family is Family.AWS:
            cache = ReadThroughCache(self.store)
            return {"cache": cache, **self.settings.aws.managed.provider_options()}
        secret_id = self.settings.aws.credential_secrets.get(family) if family else None
        return {"secret": self.secrets.value(secret_id)} if secret_id else {}

    @property
    def context(self) -> Context:
        return Context(
            store=self.store,
            clock=self.clock,
            ids=self.ids,
            types=self.types,
            trigger=self.trigger,
            submit_lease=self.settings.submit_lease,
            dispatch_setup=self._dispatch_setup,
        )

    def _dispatch_setup(self, pool_type: str) -> str | None:
        """In the cloud, a push pool needs its family's dispatch function; the
        local server dispatches every family in-process."""
        queues = self.settings.aws.queues
        return dispatch_setup_problem(pool_type, queues=queues) if queues else None

    @property
    def signing_key(self) -> bytes:
        """The run-token key: configured, else generated once and kept in the store
        so every process sharing the store signs and verifies alike."""
        if self._signing_key is None:
            with self._lock:
                name = self.settings.aws.run_token_key_parameter
                if self._signing_key is None and name:
                    key = self.parameters.value(name, what="run-token signing key")
                    self._signing_key = key.encode()
                if self._signing_key is None:
                    cached = self.store.get_cached(SIGNING_KEY_CACHE)
                    if cached is None:
                        self.store.put_cached(SIGNING_KEY_CACHE, secrets.token_hex(32))
                        cached = self.store.get_cached(SIGNING_KEY_CACHE)
                    assert cached is not None
                    self._signing_key = cached.encode()
        return self._signing_key

    def run_token(self, run_id: str) -> str:
        return run_token(run_id, key=self.signing_key)

    def seed_admin_token(self) -> None:
        """Make the stack's admin-token parameter a valid admin bearer token.

        The parameter's value (generated by the first function that read it)
        is the token (no prefix), stored hashed like every other.  Done once
        per cold start; a value put over it adds a new token (revoke the old
        one by deleting its item).
        """
        name = self.settings.aws.admin_token_parameter
        if self._admin_seeded or not name:
            return
        with self._lock:
            if self._admin_seeded:
                return
            digest = hash_secret(self.parameters.value(name, what="admin token"))
            if self.store.find_token(digest) is None:
                token_id = f"{SEED_ADMIN_TOKEN_ID}-{digest[:12]}"
                self.store.put_token(
                    Token(id=token_id, secret_hash=digest, scope="admin", created=self.clock())
                )
            self._admin_seeded = True


class _Default:
    """The process-wide container, built on first use (once per cold start)."""

    container: Container | None = None
    lock = threading.Lock()


def bootstrap(
    *,
    store: Store | None = None,
    providers: Mapping[str, Provider] | None = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    trigger: DispatchTrigger | None = None,
    settings: Settings | None = None,
    types: PoolTypes | None = None,
    secrets: Secrets | None = None,
    parameters: StackParameters | None = None,
) -> Container:
    """The container for this process; with overrides, a new one built from them."""
    overrides = (store, providers, clock, ids, trigger, settings, types, secrets, parameters)
    if all(o is None for o in overrides):
        with _Default.lock:
            if _Default.container is None:
                _Default.container = Container(Settings.from_env())
            return _Default.container
    return Container(
        settings or Settings.from_env(),
        store=store,
        providers=providers,
        clock=clock,
        ids=ids,
        trigger=trigger,
        types=types,
        secrets=secrets,
        parameters=parameters,
    )
