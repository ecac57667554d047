"""Statements over the record: the audit log's filtered pages and the changes feed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, or_, select

from projekt.api_keys.models import ApiKey
from projekt.auth.models import User
from projekt.core.fastsql import FastSQL
from projekt.core.record import Event, EventCounter
from projekt.core.repository import OrgScopedRepository
from projekt.oauth.models import OAuthClient
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to

# What only admins and owners manage, so only they read its changes.
ADMIN_ONLY = ("invitation", "webhook")

# -- the changes feed: statements compiled once, run on the fast path (``core.fastsql``) ----------

P = bindparam
_FEED_COLUMNS = (Event.seq, Event.type, Event.resource_type, Event.resource_id)


def _feed_page(everything: bool) -> Select[int, str, str, uuid.UUID]:
    """Oldest first: ``:limit`` events above seq ``:after`` that ``:user_id`` may read.

    ``everything``: admins and owners, who read every project and key. Everyone else reads
    no invitation or webhook (``ADMIN_ONLY``), only their own keys, and only events of
    projects they can see now (a deleted project's events included: who could see it is no
    longer known).
    """
    stmt = select(*_FEED_COLUMNS).where(Event.org_id == P("org_id"), Event.seq > P("after"))
    if not everything:
        user_id: Any = P("user_id")
        project_visible = exists().where(
            Project.id == Event.project_id,
            Project.org_id == Event.org_id,
            visible_to(user_id),
        )
        own_key = exists().where(ApiKey.id == Event.resource_id, ApiKey.user_id == user_id)
        stmt = stmt.where(
            or_(Event.project_id.is_(None), project_visible),
            # Not ``not_in``: an IN list compiles to a post-compile parameter, not once.
            *[Event.resource_type != kind for kind in ADMIN_ONLY],
            or_(Event.resource_type != "api_key", and_(own_key)),
        )
    return stmt.order_by(Event.seq).limit(P("limit"))


FEED_PAGE = {True: _feed_page(True), False: _feed_page(False)}
LAST_SEQ = select(EventCounter.seq).where(EventCounter.org_id == P("org_id"))


class FeedReads:
    """The changes feed's reads of the record, on the fast path (no session)."""

    def __init__(self, fast: FastSQL, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.fast = fast
        self.org_id = org_id
        self.user_id = user_id

    async def page(self, after: int, limit: int, everything: bool) -> Sequence[Mapping[str, Any]]:
        """Events after ``after``, oldest first; ``everything`` (admins) or what the member's
        projects and credentials let them see."""
        params = {"org_id": self.org_id, "user_id": self.user_id, "after": after, "limit": limit}
        return await self.fast.fetch(FEED_PAGE[everything], params)

    async def last_seq(self) -> int:
        row = await self.fast.fetchrow(LAST_SEQ, {"org_id": self.org_id})
        return int(row["seq"]) if row is not None else 0


@dataclass(frozen=True, slots=True)
class AuditFilters:
    actor_id: uuid.UUID | None = None
    credential_id: uuid.UUID | None = None
    credential_kind: str | None = None
    resource_type: str | None = None
    resource_id: uuid.UUID | None = None
    type: str | None = None
    project_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        pairs: list[tuple[Any, Any]] = [
            (Event.actor_user_id, self.actor_id),
            (Event.credential_id, self.credential_id),
            (Event.credential_kind, self.credential_kind),
            (Event.resource_type, self.resource_type),
            (Event.resource_id, self.resource_id),
            (Event.type, self.type),
            (Event.project_id, self.project_id),
        ]
        found = [column == value for column, value in pairs if value is not None]
        if self.since is not None:
            found.append(Event.occurred_at >= self.since)
        if self.until is not None:
            found.append(Event.occurred_at < self.until)
        return found


class RecordRepository(OrgScopedRepository[Event]):
    model = Event

    async def last_seq(self) -> int:
        stmt = select(EventCounter.seq).where(EventCounter.org_id == self.org_id)
        return int((await self.session.execute(stmt)).scalar_one_or_none() or 0)

    async def audit_page(
        self, filters: AuditFilters, before: int | None, limit: int
    ) -> list[Event]:
        """Newest first: ``limit`` events below seq ``before``."""
        stmt = self.select().where(*filters.conditions())
        if before is not None:
            stmt = stmt.where(Event.seq < before)
        stmt = stmt.order_by(Event.seq.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    async def names(
        self, events: list[Event]
    ) -> tuple[dict[uuid.UUID, str], dict[uuid.UUID, Any], dict[str, str]]:
        """People's names, keys (name, last four) and OAuth clients' names of these events."""
        users = {e.actor_user_id for e in events if e.actor_user_id is not None}
        keys = {e.credential_id for e in events if e.credential_kind == "pat" and e.credential_id}
        clients = {e.oauth_client_id for e in events if e.oauth_client_id is not None}
        people: dict[uuid.UUID, str] = {}
        if users:
            rows = await self.session.execute(select(User.id, User.name).where(User.id.in_(users)))
            people = {row.id: row.name for row in rows}
        found_keys: dict[uuid.UUID, Any] = {}
        if keys:
            stmt = select(ApiKey.id, ApiKey.name, ApiKey.last_four).where(
                ApiKey.id.in_(keys), ApiKey.org_id == self.org_id
            )
            found_keys = {row.id: row for row in await self.session.execute(stmt)}
        found_clients: dict[str, str] = {}
        if clients:
            stmt2 = select(OAuthClient.client_id, OAuthClient.client_name).where(
                OAuthClient.client_id.in_(clients)
            )
            found_clients = {
                row.client_id: row.client_name for row in await self.session.execute(stmt2)
            }
        return people, found_keys, found_clients
