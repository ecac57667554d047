"""The application factory: settings in, a fully wired ASGI app out. No import-time globals."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.middleware import Middleware
from starlette.routing import Route, compile_path
from starlette.staticfiles import StaticFiles

from projekt import __version__
from projekt.api import ROUTERS
from projekt.auth.cache import (
    CHANGED,
    CREDENTIAL_TABLES,
    CredentialCache,
    mark_credential_changes,
)
from projekt.auth.credentials import (
    LOOKUPS,
    SESSION_LOOKUP,
    TOUCH_KEY,
    TOUCH_SESSION,
    CredentialResolver,
)
from projekt.authz import Audience, authorize, readmit
from projekt.config import Settings
from projekt.core import logs
from projekt.core.clock import Clock
from projekt.core.db import Database
from projekt.core.deps import AppServices
from projekt.core.errors import install_error_handlers
from projekt.core.idempotency import idempotency_store
from projekt.core.metrics import Metrics
from projekt.core.param_analysis import install as remember_param_analysis
from projekt.core.ratelimit import Bucket, CircuitBreaker, InProcessLimiter, Rate, RedisLimiter
from projekt.core.responses import JSONResponse
from projekt.core.route_index import install as install_route_index
from projekt.core.routes import route_table
from projekt.core.security import Passwords
from projekt.mcp.server import McpApp
from projekt.middleware.access import AccessMiddleware, RouteRule, TrustedProxies
from projekt.middleware.body_limit import BodyLimitMiddleware
from projekt.middleware.body_text import BodyTextMiddleware
from projekt.middleware.dry_run import DryRunMiddleware
from projekt.middleware.dry_run import document as dry_run_spec
from projekt.middleware.edge import Edge
from projekt.middleware.etag import ETagMiddleware
from projekt.middleware.front import FrontMiddleware
from projekt.middleware.idempotency import IdempotencyMiddleware
from projekt.middleware.idempotency import document as idempotency_spec
from projekt.middleware.methods import Methods, PathMethods
from projekt.middleware.security_headers import SecurityHeaders
from projekt.oauth.cimd import MetadataFetcher
from projekt.policy import LIMITS, POLICY
from projekt.spec import ServedSpec, build_openapi
from projekt.web.pages import STATIC_DIR
from projekt.web.router import install_web_handlers
from projekt.webhooks.delivery import Deliverer

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

API_DESCRIPTION = (
    "The Projekt REST API: orgs, projects, issues and more, for scripts, apps and AI agents. "
    "Authenticate with `Authorization: Bearer pjk_live_…` (a personal access token bound to one "
    "org), an OAuth 2.1 access token, or a browser session cookie. Every non-2xx answer is "
    '`{"error": "…", "code": "…"}`. Request bodies are strict: no type is coerced, unknown '
    "fields are refused, `null` clears exactly the fields marked nullable, and no string may "
    "contain U+0000."
)


def build_services(settings: Settings, clock: Clock | None = None) -> AppServices:
    redis = None
    if settings.redis_url:
        # A bounded pool that makes a request wait (briefly) for a connection: redis-py's
        # default pool fails a burst beyond 100 in-flight calls with "Too many connections".
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_pool_size,
            timeout=settings.redis_pool_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_connect_timeout_s,
        )
        redis = Redis.from_pool(pool)
    services = AppServices(
        settings=settings,
        db=Database(settings),
        clock=clock or Clock(),
        passwords=Passwords(settings.password_hash_profile, threads=settings.password_hash_threads),
        redis=redis,
    )
    # Identities resolve on connections of their own: a locked table must not hold up every
    # caller's 401/200 (see core.fastsql).
    services.fast.reserve(*LOOKUPS.values(), SESSION_LOOKUP, TOUCH_KEY, TOUCH_SESSION)
    # Last-used stamps change nothing a credential may do: the cache's hook need not see them.
    services.fast.bookkeeping(TOUCH_KEY, TOUCH_SESSION)
    count_statements(services.db, services.metrics)
    epoch_key = f"{settings.redis_prefix}:credential-epoch"
    if settings.rate_limit_enabled:
        local = InProcessLimiter()
        services.limiter = (
            RedisLimiter(
                redis,
                settings.redis_prefix,
                local,
                epoch_key,
                breaker=CircuitBreaker(
                    settings.redis_breaker_failures,
                    settings.redis_breaker_cooldown_s,
                    time.monotonic,
                ),
                workers=settings.rate_limit_fallback_workers,
            )
            if redis is not None
            else local
        )
    if isinstance(services.limiter, RedisLimiter):
        limiter = services.limiter
        gauges = services.metrics.gauges
        gauges["ratelimit_redis_failures_total"] = lambda: limiter.failures
        gauges["ratelimit_local_decisions_total"] = lambda: limiter.local_decisions
        gauges["ratelimit_redis_breaker_open"] = lambda: int(limiter.breaker.is_open)
        # The limiter's round trip carries the credential epoch: token rows can be cached.
        assert redis is not None
        cache = CredentialCache(redis, epoch_key)
        services.credentials = cache
        # Redis down: changes cannot move the epoch, so cached rows cannot be trusted.
        limiter.on_open.append(cache.forget)
        mark_credential_changes()

        async def forget_credentials(session: AsyncSession) -> None:
            if session.info.pop(CHANGED, False):
                await cache.changed()

        services.db.after_commit.append(forget_credentials)
        services.db.watched_tables.update(CREDENTIAL_TABLES)
    return services


def count_statements(db: Database, metrics: Metrics) -> None:
    """``projekt_sql_statements_total`` in /metrics: the benchmark divides it by requests."""

    def count(*_args: Any) -> None:
        metrics.inc("sql_statements_total")

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)


def route_rules(app: FastAPI, settings: Settings) -> list[RouteRule]:
    """The buckets the policy declares (``policy.LIMITS``), matched by method and path."""
    rules = []
    names = set()
    for route in route_table(app):
        names.add(route.name)
        limit = LIMITS.get(route.name)
        if limit is not None:
            bucket = Bucket(limit.bucket, Rate.parse(getattr(settings, limit.setting)), limit.key)
            pattern = compile_path(route.path)[0]
            rules.append(RouteRule(route.methods, pattern, bucket))
    unknown = sorted(set(LIMITS) - names)
    if unknown:
        raise ValueError(f"rate limits declared for routes that do not exist: {unknown}")
    return rules


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    # FastAPI re-analyses each declared parameter per request (core/param_analysis.py).
    remember_param_analysis()
    services = build_services(settings, clock)
    cache = services.credentials
    assert cache is None or isinstance(cache, CredentialCache)  # what build_services made
    idempotency = idempotency_store(services.db, services.redis, settings.redis_prefix)
    mcp = McpApp(services)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Each worker of `projekt serve` delivers webhooks on a task of its own (claims keep
        # one endpoint on one worker); `projekt worker` does the same apart from the API.
        deliverer = Deliverer(services) if settings.webhooks_in_process else None
        stop = asyncio.Event()
        delivering = asyncio.create_task(deliverer.run(stop)) if deliverer else None
        yield
        stop.set()
        await mcp.close()
        if deliverer is not None and delivering is not None:
            await delivering
            await deliverer.close()
        await services.fast.close()
        await services.db.dispose()
        services.passwords.close()
        if isinstance(services.limiter, RedisLimiter):
            await services.limiter.close()
        await idempotency.close()
        if services.redis is not None:
            await services.redis.aclose()

    # Filled once the routes exist, before the first request.
    rules: list[RouteRule] = []
    path_methods: list[PathMethods] = []
    public_writes: list[tuple[frozenset[str], re.Pattern[str]]] = []
    # Request order: the front (request id and last-resort errors, the edge's refusals of host,
    # head size and NUL, HEAD and Allow, the headers every answer carries: one layer, one
    # wrapper around send), identity and rate limits (which answer the identity's errors, so
    # they carry the headers), ?dry_run (after the limit: a dry run counts), body limit, NUL in
    # bodies, the Idempotency-Key (after identity: a key belongs to the caller; it leaves dry
    # runs alone), then ETags.
    middleware = [
        Middleware(
            FrontMiddleware,
            edge=Edge(hosts=settings.answered_hosts, max_header_bytes=settings.max_header_bytes),
            methods=Methods(path_methods),
            security=SecurityHeaders(https=settings.secure_cookies),
            access_log=settings.access_log,
        ),
        Middleware(
            AccessMiddleware,
            resolver=CredentialResolver(settings, services.fast, services.clock, cache),
            cookie_name=settings.session_cookie_name,
            limiter=services.limiter,
            global_rate=Rate.parse(settings.rate_limit_global),
            rules=rules,
            proxies=TrustedProxies(settings.trusted_proxies),
            metrics=services.metrics,
        ),
        Middleware(DryRunMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(BodyTextMiddleware),
        Middleware(
            IdempotencyMiddleware,
            store=idempotency,
            clock=services.clock,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lease=timedelta(seconds=settings.idempotency_lease_s),
            public=public_writes,
            admit=readmit,
        ),
        Middleware(ETagMiddleware),
    ]
    app = FastAPI(
        title="Projekt API",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        middleware=middleware,
        dependencies=[Depends(authorize)],
        default_response_class=JSONResponse,
        # operationId = route name = the key of the route's rule in the policy.
        generate_unique_id_function=lambda route: route.name,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # A redirect to the slashless path would be built from the Host header; paths are exact.
        redirect_slashes=False,
        telemetry=None if settings.opentelemetry else NO_TELEMETRY,
    )
    app.state.services = services
    app.state.policy = POLICY
    app.state.client_documents = MetadataFetcher(settings)  # OAuth URL client_ids (per worker)
    install_error_handlers(app)
    install_web_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # MCP over Streamable HTTP (developers/pages/mcp.md): after the middleware like every
    # path, outside the REST route table and its spec (a JSON-RPC endpoint, not a REST
    # operation). POST only: the server is stateless and answers in JSON, so it has no stream
    # to open on GET (the SDK's GET held the connection open with nothing to send) nor a
    # session to end on DELETE; both answer 405 with `Allow: POST`, as the transport allows.
    app.router.routes.append(Route("/mcp", mcp, methods=["POST"], name="mcp"))
    # Requests are matched by a table of these routes instead of FastAPI's walk through all
    # of them (core/route_index.py): the last route to be added.
    install_route_index(app.router)
    rules.extend(route_rules(app, settings))
    path_methods.extend(
        PathMethods(compile_path(route.path)[0], route.methods) for route in route_table(app)
    )
    public_writes.extend(
        (route.methods, compile_path(route.path)[0])
        for route in route_table(app)
        if (rule := POLICY.get(route.name)) is not None and rule.audience is Audience.PUBLIC
    )
    public = {name for name, rule in POLICY.items() if rule.audience is Audience.PUBLIC}

    def document() -> dict[str, Any]:
        spec = build_openapi(
            app, POLICY, API_DESCRIPTION, [lambda spec: idempotency_spec(spec, public)]
        )
        dry_run_spec(spec)  # after: its header goes on every answer the builder declared
        return spec

    app.state.openapi = ServedSpec(document)
    logging.getLogger("projekt").setLevel(settings.log_level.upper())
    logs.install()
    return app
