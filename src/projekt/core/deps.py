"""Request-scoped providers shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.config import Settings
from projekt.core.clock import Clock
from projekt.core.context import OrgContext, Principal
from projekt.core.db import Database
from projekt.core.errors import Unauthorized
from projekt.core.fastsql import FastSQL
from projekt.core.metrics import Metrics
from projekt.core.ratelimit import InProcessLimiter, RedisLimiter
from projekt.core.security import Passwords


@dataclass
class AppServices:
    """Everything built once per app in ``create_app`` and shared by its requests."""

    settings: Settings
    db: Database
    clock: Clock
    passwords: Passwords
    redis: Redis | None = None
    metrics: Metrics = field(default_factory=Metrics)
    limiter: InProcessLimiter | RedisLimiter | None = None
    fast: FastSQL = field(init=False)

    def __post_init__(self) -> None:
        self.fast = FastSQL(self.settings, self.db.engine, self.metrics)


def get_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # scope="function" below: the commit happens before the response is sent, so a failed
    # commit can never follow a 2xx.
    async with get_services(request).db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def unauthorized(settings: Settings, message: str | None = None) -> Unauthorized:
    metadata = f"{settings.base_url}/.well-known/oauth-protected-resource"
    return Unauthorized(
        message, headers={"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'}
    )


def get_principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    if principal is None:
        raise unauthorized(get_services(request).settings)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_org_context(request: Request) -> OrgContext:
    context: OrgContext | None = request.scope.get("state", {}).get("org_context")
    if context is None:  # a route asked for an org without an org rule in the policy
        raise RuntimeError("org context requested on a route whose rule does not resolve an org")
    return context


OrgDep = Annotated[OrgContext, Depends(get_org_context)]
