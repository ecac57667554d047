"""Typed settings read from ``PROJEKT_*`` environment variables."""

from __future__ import annotations

import base64
import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from projekt.core.ratelimit import Rate

DEFAULT_SQLITE_PATH = Path("var") / "projekt.db"
# Always answered: health checks and local tools reach the server by these names.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class Settings(BaseSettings):
    """Every knob of the server; nonsense fails at start-up, not on the first request."""

    model_config = SettingsConfigDict(env_prefix="PROJEKT_", extra="ignore", frozen=True)

    database_url: str = f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}"
    redis_url: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    environment: Literal["development", "production", "test"] = "development"

    db_pool_size: int = Field(default=8, ge=1, le=256)
    db_pool_timeout_s: float = Field(default=5.0, gt=0, le=60)
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Bounded so a slow or dead Redis costs a request little; a busy event loop adds its own
    # delay to any timeout, so the command budget is not cut below 100 ms.
    redis_timeout_s: float = Field(default=0.1, gt=0, le=5)
    redis_connect_timeout_s: float = Field(default=0.5, gt=0, le=10)
    # Database fault bounds (both pools: the ORM's engine and the fast path's connections). A
    # request waits at most db_pool_timeout_s for a connection and db_statement_timeout_s for
    # one statement (lock waits included), then answers 503 instead of queueing behind a
    # blocked table. Credential lookups have db_credential_connections of their own on the
    # fast pool, so identities still resolve while the other connections wait on a lock.
    db_statement_timeout_s: float = Field(default=10.0, gt=0, le=600)
    db_credential_connections: int = Field(default=2, ge=0, le=32)
    # argon2id hashes run on a pool of this many threads: a burst of sign-ins waits its turn
    # there instead of taking every core (and the event loop's share) at once.
    password_hash_threads: int = Field(default=2, ge=1, le=64)

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # The edge (docs/decisions.md "The edge"): host names answered besides the base URL's host
    # and loopback ("*" answers any), the request head's size, and the server's connection limits.
    allowed_hosts: list[str] = Field(default_factory=list)
    max_header_bytes: int = Field(default=16 * 1024, ge=4096, le=1024 * 1024)
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    keep_alive_timeout_s: float = Field(default=5.0, gt=0, le=300)
    limit_concurrency: int = Field(default=1000, ge=1)
    backlog: int = Field(default=2048, ge=1)
    session_idle_days: int = Field(default=30, ge=1, le=365)
    session_absolute_days: int = Field(default=90, ge=1, le=730)
    invitation_days: int = Field(default=7, ge=1, le=90)
    max_active_keys_per_user_org: int = Field(default=20, ge=1, le=1000)
    # A sprint's burndown and capacity do work per day of the sprint: its length is bounded.
    max_sprint_days: int = Field(default=366, ge=1, le=3660)
    # A timer left running longer stops at this limit, its entry marked auto_stopped.
    timer_limit_hours: int = Field(default=12, ge=1, le=24)
    # argon2id: argon2-cffi's default profile (t=3, m=64 MiB, p=4) unless tests ask for "cheap".
    password_hash_profile: Literal["default", "cheap"] = "default"
    # OAuth 2.1: codes live a minute; access tokens an hour; refresh tokens rotate, with a grace
    # window for clients that refresh in parallel, and an absolute cap on the whole grant.
    oauth_code_ttl_s: int = Field(default=60, ge=5, le=600)
    oauth_access_ttl_s: int = Field(default=3600, ge=60, le=86400)
    oauth_refresh_grace_s: int = Field(default=120, ge=0, le=3600)
    oauth_grant_days: int = Field(default=90, ge=1, le=730)
    # Client ID Metadata Documents (an https URL as client_id): fetch limits and cache.
    # ``oauth_cimd_allow_private`` lets them live on loopback/private addresses (tests, local use).
    oauth_cimd_allow_private: bool = False
    oauth_cimd_timeout_s: float = Field(default=5.0, gt=0, le=30)
    oauth_cimd_max_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    oauth_cimd_cache_s: int = Field(default=300, ge=0, le=86_400)
    # A CA bundle (PEM) trusted for those fetches besides the system's: an internal CA.
    oauth_cimd_ca_file: str | None = None
    # Proxies whose X-Forwarded-For is believed (IPs or CIDRs); none by default, loopback included.
    trusted_proxies: list[str] = Field(default_factory=list)
    redis_prefix: str = Field(default="projekt", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    # Rate limits (API.md §6), each "N/period" with s, m or h: 600/60s, 10/1h.
    rate_limit_enabled: bool = True
    rate_limit_global: str = "600/60s"
    rate_limit_api_key_mint: str = "10/1h"
    rate_limit_search: str = "30/60s"
    rate_limit_project_write: str = "30/60s"
    rate_limit_oauth_register: str = "5/1h"
    rate_limit_oauth_token: str = "60/60s"
    rate_limit_login_ip: str = "20/60s"
    rate_limit_login_account: str = "10/5m"
    # Caps on creating accounts, orgs and invitations (issue 14.6), and how the limiter copes
    # with Redis trouble (issue 13.4/13.5; docs/decisions.md "Rate limits under load and faults").
    rate_limit_signup_ip: str = "30/1h"  # per client IP: an office behind one NAT still signs up
    rate_limit_org_create: str = "10/1h"  # per person
    rate_limit_invitation: str = "50/1h"  # per person: each one may send an email
    # Redis connections per worker; a request beyond them waits this long for one, then is
    # decided locally (never a burst of "Too many connections" failures).
    redis_pool_size: int = Field(default=64, ge=1, le=10_000)
    redis_pool_timeout_s: float = Field(default=0.5, gt=0, le=30)
    # Failures in a row that mean "Redis is down", and the pause before trying it again.
    redis_breaker_failures: int = Field(default=5, ge=1, le=10_000)
    redis_breaker_cooldown_s: float = Field(default=1.0, gt=0, le=300)
    # Processes sharing the budgets (all workers on all hosts): while Redis cannot be asked,
    # each one limits itself to this share of what was left.
    rate_limit_fallback_workers: int = Field(default=1, ge=1, le=4096)
    # Idempotency-Key (API.md §9): how long an answer is replayed, and how long a running first
    # request holds its key (a worker that died mid-request frees it after this lease).
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    idempotency_lease_s: float = Field(default=60.0, ge=1, le=3600)
    # The audit log (API.md §10) shows events of the last N days; None keeps everything. The
    # record itself is kept: the changes feed must stay resumable from any cursor it gave.
    audit_retention_days: int | None = Field(default=None, ge=1)

    # Webhooks (API.md §10; docs/webhooks.md). The key that seals signing secrets at rest
    # (base64 of 32 bytes; without it, a key file made on first use), whether targets on
    # loopback/private networks are allowed (tests and local use only), whether each server
    # worker delivers (else run `projekt worker`), and the deliverers' bounds.
    webhook_secret_key: SecretStr | None = None
    webhook_key_file: str = str(Path("var") / "webhook.key")
    webhook_allow_private_targets: bool = False
    webhooks_in_process: bool = True
    webhook_concurrency: int = Field(default=8, ge=1, le=256)  # endpoints served at once
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)  # one attempt, all included
    webhook_lease_s: float = Field(default=60.0, ge=1, le=3600)  # an endpoint's claim
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)  # idle wait between looks
    webhook_batch: int = Field(default=200, ge=1, le=10_000)  # record events read at once
    webhook_disable_after_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    webhook_replay_max: int = Field(default=10_000, ge=1, le=1_000_000)
    # Finished deliveries (the delivery log) are deleted this many days after they finished;
    # None keeps them all. Pending ones are never pruned.
    webhook_delivery_retention_days: int | None = Field(default=30, ge=1)
    # `projekt worker` runs at this nice value (at least; never raised back): on a host shared
    # with API processes, the scheduler gives their requests the CPU first (docs/webhooks.md).
    webhook_worker_nice: int = Field(default=10, ge=0, le=19)
    access_log: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # FastAPI's own OpenTelemetry spans, metrics and logs. Off: nothing in this install
    # exports them, and FastAPI otherwise asks OpenTelemetry on every request whether a
    # provider has appeared (about 7 µs). On: configure a provider (e.g. opentelemetry-instrument).
    opentelemetry: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite"):
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not (
            value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")
        ):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator(
        "rate_limit_global",
        "rate_limit_api_key_mint",
        "rate_limit_search",
        "rate_limit_project_write",
        "rate_limit_oauth_register",
        "rate_limit_oauth_token",
        "rate_limit_login_ip",
        "rate_limit_login_account",
        "rate_limit_signup_ip",
        "rate_limit_org_create",
        "rate_limit_invitation",
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        Rate.parse(value)
        return value

    @field_validator("webhook_secret_key", mode="before")
    @classmethod
    def _webhook_key(cls, value: object) -> object:
        """Empty means unset; otherwise it must be base64 of 32 bytes (checked at start-up)."""
        if value in ("", None):
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        try:
            key = base64.urlsafe_b64decode(
                text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
            )
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError("must be base64 of 32 bytes (openssl rand -base64 32)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)
        return value

    @field_validator("base_url")
    @classmethod
    def _absolute_base(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL such as https://projekt.example.com")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _lifetimes_ordered(self) -> Settings:
        if self.session_absolute_days < self.session_idle_days:
            raise ValueError("session_absolute_days must be at least session_idle_days")
        if self.webhook_lease_s <= self.webhook_timeout_s:
            # A send may take the whole timeout: a shorter lease could let a second worker
            # take the endpoint while the first one is still sending.
            raise ValueError("webhook_lease_s must be longer than webhook_timeout_s")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix is only honoured by browsers on secure origins.
        return "__Host-projekt_session" if self.secure_cookies else "projekt_session"

    @property
    def answered_hosts(self) -> frozenset[str] | None:
        """Host names this server answers for; None when any host is (``allowed_hosts: ["*"]``)."""
        if "*" in self.allowed_hosts:
            return None
        base = urlsplit(self.base_url).hostname or ""
        return frozenset({base, *LOOPBACK_NAMES, *(h.lower() for h in self.allowed_hosts)})

    @property
    def api_resource(self) -> str:
        return f"{self.base_url}/api"

    @property
    def mcp_resource(self) -> str:
        return f"{self.base_url}/mcp"

    def resource_for(self, path: str) -> str:
        """The audience (RFC 8707 resource) a token must name to be used on ``path``."""
        return (
            self.mcp_resource if path == "/mcp" or path.startswith("/mcp/") else self.api_resource
        )

    @property
    def session_idle(self) -> timedelta:
        return timedelta(days=self.session_idle_days)

    @property
    def session_absolute(self) -> timedelta:
        return timedelta(days=self.session_absolute_days)
