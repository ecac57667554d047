"""The audit log and the changes feed: two readers of the record (``core.record``)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.api_keys.service import ApiKeyService
from projekt.audit.errors import BadCursor
from projekt.audit.repository import AuditFilters, RecordRepository

# The filters are part of this service's signature: callers outside audit (the web page) take
# them from here, never from the repository.
__all__ = ["AuditFilters", "AuditService", "decode_cursor", "encode_cursor"]
from projekt.audit.schemas import (
    ActorRead,
    AuditEntry,
    AuditPage,
    Change,
    ChangesPage,
    CredentialRef,
    CursorMeta,
)
from projekt.core.context import OrgContext, Role
from projekt.core.deps import AppServices
from projekt.core.errors import NotFound
from projekt.core.record import Event
from projekt.docs.service import DocService, doc_read
from projekt.issues.schemas import CommentRead, IssueRead
from projekt.issues.service import IssueService
from projekt.milestones.service import MilestoneService
from projekt.orgs.service import OrgService
from projekt.projects.service import ProjectService, project_read
from projekt.sprints.schemas import SprintRead
from projekt.sprints.service import SprintService
from projekt.time_tracking.service import TimeService
from projekt.webhooks.service import WebhookService

Representation = dict[str, Any] | None


def encode_cursor(org_id: uuid.UUID, seq: int) -> str:
    """A position in one org's record: opaque to clients, and naming its org."""
    return base64.urlsafe_b64encode(f"{org_id.hex}.{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, org_id: uuid.UUID) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        org_hex, seq_text = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split(".")
        owner, seq = uuid.UUID(hex=org_hex), int(seq_text)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadCursor("The cursor is malformed.") from None
    if owner != org_id:
        raise BadCursor("The cursor belongs to another organization.")
    if seq < 0:
        raise BadCursor("The cursor is malformed.")
    return seq


class AuditService:
    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        self.session = session
        self.services = services
        self.ctx = ctx
        self.record = RecordRepository(session, ctx.org_id)

    # -- the audit log ------------------------------------------------------------------------

    async def audit(self, filters: AuditFilters, cursor: str | None, limit: int) -> AuditPage:
        """Newest first, ``limit`` at a time; ``cursor`` continues below the last page."""
        before = decode_cursor(cursor, self.ctx.org_id) if cursor else None
        if before is not None and before > await self.record.last_seq() + 1:
            raise BadCursor("The cursor points past this organization's record.")
        retention = self.services.settings.audit_retention_days
        if retention is not None:
            oldest = self.services.clock.now() - timedelta(days=retention)
            if filters.since is None or filters.since < oldest:
                filters = replace(filters, since=oldest)
        events = await self.record.audit_page(filters, before, limit + 1)
        more = len(events) > limit
        events = events[:limit]
        people, keys, clients = await self.record.names(events)
        entries = [self._entry(e, people, keys, clients) for e in events]
        next_cursor = entries[-1].cursor if more and entries else None
        return AuditPage(data=entries, meta=CursorMeta(limit=limit, next_cursor=next_cursor))

    def _entry(
        self,
        event: Event,
        people: dict[uuid.UUID, str],
        keys: dict[uuid.UUID, Any],
        clients: dict[str, str],
    ) -> AuditEntry:
        key = keys.get(event.credential_id) if event.credential_id else None
        name = key.name if key is not None else None
        if event.oauth_client_id is not None:
            name = clients.get(event.oauth_client_id)
        credential = CredentialRef(
            id=event.credential_id,
            kind=event.credential_kind,
            name=name,
            last_four=key.last_four if key is not None else None,
        )
        actor = ActorRead(
            user_id=event.actor_user_id,
            user_name=people.get(event.actor_user_id) if event.actor_user_id else None,
            credential_kind=event.credential_kind,
            credential=credential,
            oauth_client_id=event.oauth_client_id,
        )
        return AuditEntry(
            id=event.id,
            seq=event.seq,
            cursor=encode_cursor(self.ctx.org_id, event.seq),
            occurred_at=event.occurred_at,
            type=event.type,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            project_id=event.project_id,
            actor=actor,
            request_id=event.request_id,
            changes=event.changes,
        )

    # -- the changes feed ---------------------------------------------------------------------

    async def changes(self, since: str | None, limit: int) -> ChangesPage:
        """Oldest first after ``since``, with each resource as it is now (None: gone)."""
        after = decode_cursor(since, self.ctx.org_id) if since else 0
        last = await self.record.last_seq()
        if after > last:
            raise BadCursor("The cursor points past this organization's record.")
        everything = self.ctx.role.at_least(Role.ADMIN)
        events = await self.record.feed(after, limit, self.ctx.user_id, everything)
        current: dict[tuple[str, uuid.UUID], Representation] = {}
        data = []
        for event in events:
            key = (event.resource_type, event.resource_id)
            if key not in current:
                current[key] = await self._current(event)
            resource = current[key]
            data.append(
                Change(
                    cursor=encode_cursor(self.ctx.org_id, event.seq),
                    type=event.type,
                    resource_type=event.resource_type,
                    resource_id=event.resource_id,
                    action="delete" if resource is None else "upsert",
                    resource=resource,
                )
            )
        # Nothing (more) the caller may read: resume from the end of the record as it was
        # before the page was read; every smaller number had committed by then.
        next_cursor = data[-1].cursor if data else encode_cursor(self.ctx.org_id, max(after, last))
        return ChangesPage(data=data, next_cursor=next_cursor)

    async def _current(self, event: Event) -> Representation:
        """The resource as the caller would read it now, or None when it is gone."""
        read = self._readers().get(event.resource_type)
        if read is None:
            return None
        try:
            return await read(event)
        except NotFound:
            return None

    def _readers(self) -> dict[str, Callable[[Event], Awaitable[Representation]]]:
        return {
            "issue": self._issue,
            "comment": self._comment,
            "project": self._project,
            "project_member": self._project_member,
            "sprint": self._sprint,
            "milestone": self._milestone,
            "doc": self._doc,
            "org": self._org,
            "membership": self._membership,
            "invitation": self._invitation,
            "api_key": self._api_key,
            "time_entry": self._time_entry,
            "webhook": self._webhook,
        }

    async def _issue(self, event: Event) -> Representation:
        found = await IssueService(self.session, self.services, self.ctx).representation(
            event.resource_id
        )
        return None if found is None else IssueRead.model_validate(found).model_dump(mode="json")

    async def _comment(self, event: Event) -> Representation:
        if event.parent_id is None:
            return None
        issues = IssueService(self.session, self.services, self.ctx)
        if await issues.representation(event.parent_id) is None:
            return None
        comment = await issues.comment(event.parent_id, event.resource_id)
        return CommentRead.model_validate(comment).model_dump(mode="json")

    async def _project(self, event: Event) -> Representation:
        projects = ProjectService(self.session, self.services)
        project = await projects.get_visible(self.ctx, event.resource_id)
        return project_read(project).model_dump(mode="json")

    async def _project_member(self, event: Event) -> Representation:
        projects = ProjectService(self.session, self.services)
        member = await projects.member_by_id(self.ctx, event.resource_id)
        return None if member is None else member.model_dump(mode="json")

    async def _sprint(self, event: Event) -> Representation:
        sprint = await SprintService(self.session, self.services, self.ctx).get(event.resource_id)
        return SprintRead.model_validate(sprint).model_dump(mode="json")

    async def _milestone(self, event: Event) -> Representation:
        if event.project_id is None:
            return None
        milestones = MilestoneService(self.session, self.services, self.ctx)
        project = await milestones.project(event.project_id)
        read, _ = await milestones.get(project, event.resource_id)
        return read.model_dump(mode="json")

    async def _doc(self, event: Event) -> Representation:
        if event.project_id is None:
            return None
        doc = await DocService(self.session, self.services, self.ctx).get(
            event.project_id, event.resource_id
        )
        return doc_read(doc).model_dump(mode="json")

    async def _org(self, event: Event) -> Representation:
        return (await OrgService(self.session, self.services).get_org(self.ctx)).model_dump(
            mode="json"
        )

    async def _membership(self, event: Event) -> Representation:
        team = await OrgService(self.session, self.services).team(self.ctx)
        member = next((m for m in team if m.employee_id == event.resource_id), None)
        return None if member is None else member.model_dump(mode="json", exclude={"etag"})

    async def _invitation(self, event: Event) -> Representation:
        orgs = OrgService(self.session, self.services)
        return (await orgs.invitation(self.ctx, event.resource_id)).model_dump(mode="json")

    async def _api_key(self, event: Event) -> Representation:
        keys = ApiKeyService(self.session, self.services)
        return (await keys.get(self.ctx, event.resource_id)).model_dump(mode="json")

    async def _time_entry(self, event: Event) -> Representation:
        time = TimeService(self.session, self.services, self.ctx)
        return time.read(await time.get(event.resource_id)).model_dump(mode="json")

    async def _webhook(self, event: Event) -> Representation:
        read, _ = await WebhookService(self.session, self.services, self.ctx).get(event.resource_id)
        return read.model_dump(mode="json")
