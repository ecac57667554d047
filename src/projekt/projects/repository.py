from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.auth.models import User
from projekt.core.repository import OrgScopedRepository, like_pattern
from projekt.orgs.models import Membership
from projekt.projects.models import Project, ProjectMember
from projekt.projects.visibility import visible_to


class ProjectRepository(OrgScopedRepository[Project]):
    model = Project

    async def key_taken(self, key: str, *, other_than: uuid.UUID | None = None) -> bool:
        stmt = self.select(Project.id).where(Project.key == key)
        if other_than is not None:
            stmt = stmt.where(Project.id != other_than)
        return (await self.session.execute(stmt)).first() is not None

    async def visible_one(self, project_id: uuid.UUID, user_id: uuid.UUID) -> Project | None:
        stmt = self.select().where(Project.id == project_id, visible_to(user_id))
        project: Project | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return project

    async def listing(
        self,
        user_id: uuid.UUID,
        *,
        q: str | None,
        status: str | None,
        order: list[ColumnElement[Any]],
        limit: int,
        offset: int,
    ) -> tuple[list[Project], int]:
        stmt = self.select(Project, func.count().over().label("total")).where(visible_to(user_id))
        if q:
            pattern = like_pattern(q)
            stmt = stmt.where(
                or_(
                    func.lower(Project.name).like(pattern, escape="\\"),
                    func.lower(Project.key).like(pattern, escape="\\"),
                )
            )
        if status:
            stmt = stmt.where(Project.status == status)
        stmt = stmt.order_by(*order, Project.id).limit(limit).offset(offset)
        rows = (await self.session.execute(stmt)).all()
        if rows:
            return [row.Project for row in rows], int(rows[0].total)
        count = self.select(func.count()).where(visible_to(user_id))
        return [], int((await self.session.execute(count)).scalar_one()) if offset else 0

    async def visible(
        self, user_id: uuid.UUID, q: str | None = None, limit: int = 100
    ) -> list[Project]:
        projects, _ = await self.listing(
            user_id, q=q, status=None, order=[Project.name.asc()], limit=limit, offset=0
        )
        return projects

    async def delete(self, project_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(Project).where(Project.id == project_id, Project.org_id == self.org_id)
        )

    async def is_org_member(self, user_id: uuid.UUID) -> bool:
        """Whether the person belongs to the org (a project's lead must)."""
        stmt = select(Membership.id).where(
            Membership.org_id == self.org_id, Membership.user_id == user_id
        )
        return (await self.session.execute(stmt)).first() is not None


class ProjectMemberRepository(OrgScopedRepository[ProjectMember]):
    model = ProjectMember

    async def listing(self, project_id: uuid.UUID) -> list[Any]:
        stmt = (
            self.select(ProjectMember, User)
            .join(User, User.id == ProjectMember.user_id)
            .where(ProjectMember.project_id == project_id)
            .order_by(ProjectMember.added_at, ProjectMember.id)
        )
        return list((await self.session.execute(stmt)).all())

    async def find(
        self, project_id: uuid.UUID, user_id: uuid.UUID, *, for_update: bool = False
    ) -> ProjectMember | None:
        stmt = self.select().where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
        if for_update:  # a concurrent removal then answers 404, not a failed UPDATE
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        member: ProjectMember | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return member


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
