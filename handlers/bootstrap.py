"""The one composition root: settings, store, pool types, providers, clock, ids.

Everything is built lazily, once per process (once per Lambda cold start),
from the environment; tests pass overrides instead::

    container = bootstrap(store=SqliteStore(path), clock=lambda: NOW)

Environment: ``PUSHPOOL_STORE`` (``sqlite:///path`` or ``dynamodb://TABLE``;
default an SQLite file under the user's data directory), ``PUSHPOOL_API_URL``
(what runs are told to report to), ``PUSHPOOL_RUN_TOKEN_KEY`` (the key that
signs run tokens; when unset one is generated and kept in the store),
``PUSHPOOL_AUTH`` (``off`` only for a loopback server).
"""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.ports import Clock, DispatchTrigger, IdFactory, PoolTypes, Provider, Store
from core.services.auth import run_token
from core.services.context import Context, NoTrigger

SIGNING_KEY_CACHE = "run-token-signing-key"
DEFAULT_API_URL = "http://127.0.0.1:4200/api"


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where local state lives: ``$XDG_DATA_HOME/pushpool`` or ``~/.local/share/pushpool``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pushpool"


def default_store_url(env: Mapping[str, str] | None = None) -> str:
    return f"sqlite:///{data_dir(env) / 'pushpool.db'}"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Settings:
    store_url: str
    api_url: str = DEFAULT_API_URL
    run_token_key: bytes | None = None
    auth: bool = True
    submit_lease: timedelta = timedelta(minutes=5)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        key = env.get("PUSHPOOL_RUN_TOKEN_KEY")
        return cls(
            store_url=env.get("PUSHPOOL_STORE") or default_store_url(env),
            api_url=env.get("PUSHPOOL_API_URL") or DEFAULT_API_URL,
            run_token_key=key.encode() if key else None,
            auth=env.get("PUSHPOOL_AUTH", "on").lower() not in {"off", "0", "false", "no"},
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


class Container:
    """Holds the adapters; each is created on first use and then reused."""

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
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or utc_now
        self.ids: IdFactory = ids or new_id
        self.trigger: DispatchTrigger = trigger or NoTrigger()
        self._store = store
        self._types = types
        self._providers: dict[str, Provider] = dict(providers or {})
        self._lock = threading.Lock()
        self._signing_key: bytes | None = settings.run_token_key

    @property
    def store(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    from core.store import open_store  # noqa: PLC0415 (lazy by design)

                    self._store = open_store(self.settings.store_url, clock=self.clock)
        return self._store

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
                    self._providers[pool_type] = load_provider(pool_type)
        return self._providers[pool_type]

    @property
    def context(self) -> Context:
        return Context(
            store=self.store,
            clock=self.clock,
            ids=self.ids,
            types=self.types,
            trigger=self.trigger,
            submit_lease=self.settings.submit_lease,
        )

    @property
    def signing_key(self) -> bytes:
        """The run-token key: configured, else generated once and kept in the store
        so every process sharing the store signs and verifies alike."""
        if self._signing_key is None:
            with self._lock:
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
) -> Container:
    """The container for this process; with overrides, a new one built from them."""
    overrides = (store, providers, clock, ids, trigger, settings, types)
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
    )
