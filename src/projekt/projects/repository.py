from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.repository import OrgScopedRepository, like_pattern
from projekt.orgs.models import Membership
from projekt.projects.models import Project, ProjectMember


def visible_to(user_id: uuid.UUID) -> ColumnElement[bool]:
    """Org-wide projects, private ones the user is a member of, and any for admins and owners."""
    is_member = exists().where(
        ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id
    )
    is_org_admin = exists().where(
        Membership.org_id == Project.org_id,
        Membership.user_id == user_id,
        Membership.role.in_(("owner", "admin")),
    )
    return or_(Project.visibility == "org", is_member, is_org_admin)


class ProjectRepository(OrgScopedRepository[Project]):
    model = Project

    async def key_taken(self, key: str) -> bool:
        stmt = self.select(Project.id).where(Project.key == key)
        return (await self.session.execute(stmt)).first() is not None

    async def visible(
        self, user_id: uuid.UUID, q: str | None = None, limit: int = 100
    ) -> list[Project]:
        stmt = self.select().where(visible_to(user_id))
        if q:
            pattern = like_pattern(q)
            stmt = stmt.where(
                or_(
                    func.lower(Project.name).like(pattern, escape="\\"),
                    func.lower(Project.key).like(pattern, escape="\\"),
                )
            )
        stmt = stmt.order_by(Project.name, Project.id).limit(limit)
        return list((await self.session.execute(stmt)).scalars())


async def visible_refs_in_orgs(
    session: AsyncSession, user_id: uuid.UUID, org_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """The user's visible projects in each of their orgs, in one statement (``/api/me/orgs``).

    Unscoped on purpose: ``org_ids`` are the caller's own memberships, resolved before.
    """
    refs: dict[uuid.UUID, list[Any]] = {org_id: [] for org_id in org_ids}
    if not org_ids:
        return refs
    stmt = (
        select(Project.org_id, Project.id, Project.name, Project.key)
        .where(Project.org_id.in_(org_ids), visible_to(user_id))
        .order_by(Project.name, Project.id)
    )
    for row in (await session.execute(stmt)).all():
        refs[row.org_id].append(row)
    return refs
