"""Request-scoped providers shared by every domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from projekt.config import Settings
from projekt.core import scope as asgi
from projekt.core.clock import Clock
from projekt.core.context import OrgContext, Principal
from projekt.core.db import Database, vanished
from projekt.core.errors import Unauthorized
from projekt.core.fastsql import FastSQL
from projekt.core.metrics import Metrics
from projekt.core.ratelimit import InProcessLimiter, RedisLimiter
from projekt.core.record import Actor, Recorder
from projekt.core.security import Passwords


class CredentialRows(Protocol):
    """The worker's cache of credential rows (``projekt.auth.cache``), as the app holds it.

    Core names no domain: ``create_app`` builds the cache and hands it to the credential
    resolver; the app keeps it here so Redis outages can empty it and tests can look in.
    """

    epoch_key: str

    @property
    def size(self) -> int: ...

    def forget(self) -> None: ...

    async def changed(self) -> None: ...


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
    credentials: CredentialRows | None = None
    fast: FastSQL = field(init=False)

    def __post_init__(self) -> None:
        self.fast = FastSQL(
            self.settings, self.db.engine, self.metrics, watched=self.db.watched_tables
        )
        # Every unit of work writes the events it recorded, in its own transaction.
        self.db.before_commit.append(Recorder(self.clock).write)


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in a thread pool,
# which costs more than everything these do.


def services_of(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


async def get_services(request: Request) -> AppServices:
    return services_of(request)


ServicesDep = Annotated[AppServices, Depends(get_services)]


# Safe methods only read: their units of work do not queue for SQLite's write lock.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def writes(request: Request) -> bool:
    return request.method not in READ_ONLY_METHODS


class UnitOfWork:
    """The request's one unit of work: a session made only when first used (hot read paths
    that run on the fast path never pay for one), committed at the edge by
    ``get_unit_of_work`` before the response is sent (``Database.commit``: the record's drafts,
    the commit, the ``after_commit`` hooks), rolled back on an error. ``SessionDep`` is its
    session; every other commit of the code base is listed in docs/architecture.md."""

    def __init__(self, db: Database, *, write: bool = True) -> None:
        self._db = db
        self._write = write
        self._session: AsyncSession | None = None
        self._finished = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._finished:
                raise RuntimeError("the unit of work has already committed or rolled back")
            self._session = self._db.new_session(write=self._write)
        return self._session

    async def commit_now(self) -> None:
        """Commit before the route returns, for a route that must answer a failed commit in
        its own format (the OAuth token exchange: RFC 6749's ``temporarily_unavailable``,
        not the envelope). The same commit as at the edge; the edge then has nothing left
        to do, and a failed commit leaves nothing (the session is rolled back and closed)."""
        await self.finish(failed=False)

    async def finish(self, failed: bool) -> None:
        """Commit (or roll back) and close the session; the unit of work ends here, once."""
        self._finished = True
        if self._session is None:
            return
        session, self._session = self._session, None
        try:
            if failed:
                await session.rollback()
            else:
                try:
                    await self._db.commit(session)
                except StaleDataError as exc:
                    await session.rollback()
                    raise vanished() from exc
        finally:
            await session.close()


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    uow = UnitOfWork(services_of(request).db, write=writes(request))
    try:
        yield uow
    except StaleDataError as exc:
        await uow.finish(failed=True)
        raise vanished() from exc
    except BaseException:
        await uow.finish(failed=True)
        raise
    await uow.finish(failed=False)


# scope="function": the commit happens before the response is sent, so a failed commit can
# never follow a 2xx.
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_session(uow: UnitOfWorkDep) -> AsyncSession:
    """The unit of work's session, for services that use it on every call."""
    return uow.session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def unauthorized(
    settings: Settings,
    message: str | None = None,
    *,
    error: str | None = None,
    resource: str | None = None,
) -> Unauthorized:
    """A 401 with the Bearer challenge; ``error`` (RFC 6750 §3.1) when a token was presented.
    ``resource``: the protected resource's own metadata (RFC 9728 §3.1 path suffix), e.g. /mcp."""
    metadata = f"{settings.base_url}/.well-known/oauth-protected-resource"
    if resource == settings.mcp_resource:
        metadata += "/mcp"
    challenge = f'resource_metadata="{metadata}"'
    if error:
        challenge = f'error="{error}", {challenge}'
    return Unauthorized(message, headers={"WWW-Authenticate": f"Bearer {challenge}"})


def principal_of(request: Request) -> Principal:
    principal: Principal | None = asgi.principal(request.scope)
    if principal is None:
        raise unauthorized(services_of(request).settings)
    return principal


async def get_principal(request: Request) -> Principal:
    return principal_of(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_actor(request: Request) -> Actor:
    """Who the events of a route without an org context name (creating or joining an org)."""
    return Actor.of(principal_of(request), asgi.request_id(request.scope))


ActorDep = Annotated[Actor, Depends(get_actor)]


def org_context_of(request: Request) -> OrgContext:
    context: OrgContext | None = asgi.org_context(request.scope)
    if context is None:  # a route asked for an org without an org rule in the policy
        raise RuntimeError("org context requested on a route whose rule does not resolve an org")
    return context


async def get_org_context(request: Request) -> OrgContext:
    return org_context_of(request)


OrgDep = Annotated[OrgContext, Depends(get_org_context)]
