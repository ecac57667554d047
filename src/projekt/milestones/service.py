"""Milestones: releases of a project, with their progress computed in the query that lists them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.errors import NotFound
from projekt.core.repository import OrgScopedRepository
from projekt.issues.models import Issue
from projekt.milestones.models import Milestone
from projekt.milestones.schemas import MilestoneCreate, MilestoneRead, MilestoneUpdate
from projekt.projects.models import Project
from projekt.projects.repository import ProjectRepository


class MilestoneNotFound(NotFound):
    code, message = "milestone_not_found", "Milestone not found."


def milestone_etag(read: MilestoneRead, revision: int) -> str:
    # Counts are part of the representation: issues moving in or out change the tag too.
    return version_etag(
        "milestone", read.id, revision, read.issue_count, read.completed_issue_count, read.overdue
    )


class MilestoneRepository(OrgScopedRepository[Milestone]):
    model = Milestone

    def with_counts(self, project_id: uuid.UUID, done: list[str]) -> Select[Any]:
        """Milestones and their issue counts in one statement (a constant number per list)."""
        issue_count = (
            select(func.count())
            .where(Issue.milestone_id == Milestone.id, Issue.archived.is_(False))
            .scalar_subquery()
        )
        completed = (
            select(func.count())
            .where(
                and_(
                    Issue.milestone_id == Milestone.id,
                    Issue.archived.is_(False),
                    Issue.status.in_(done) if done else Issue.id.is_(None),
                )
            )
            .scalar_subquery()
        )
        return self.select(
            Milestone,
            issue_count.label("issue_count"),
            completed.label("completed_issue_count"),
        ).where(Milestone.project_id == project_id)


class MilestoneService:
    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        self.session = session
        self.services = services
        self.ctx = ctx
        self.milestones = MilestoneRepository(session, ctx.org_id)

    async def project(self, project_id: uuid.UUID) -> Project:
        project = await ProjectRepository(self.session, self.ctx.org_id).visible_one(
            project_id, self.ctx.user_id
        )
        if project is None:
            raise NotFound("Project not found.", code="project_not_found")
        return project

    async def listing(
        self, project: Project, status: str | None
    ) -> list[tuple[MilestoneRead, int]]:
        stmt = self.milestones.with_counts(project.id, _done(project))
        if status is not None:
            stmt = stmt.where(Milestone.status == status)
        stmt = stmt.order_by(Milestone.target_date.is_(None), Milestone.target_date, Milestone.id)
        rows = (await self.session.execute(stmt)).all()
        return [
            self._read(row.Milestone, row.issue_count, row.completed_issue_count) for row in rows
        ]

    async def get(self, project: Project, milestone_id: uuid.UUID) -> tuple[MilestoneRead, int]:
        stmt = self.milestones.with_counts(project.id, _done(project)).where(
            Milestone.id == milestone_id
        )
        row = (await self.session.execute(stmt)).first()
        if row is None:
            raise MilestoneNotFound()
        return self._read(row.Milestone, row.issue_count, row.completed_issue_count)

    async def create(self, project: Project, data: MilestoneCreate) -> tuple[MilestoneRead, int]:
        now = self.services.clock.now()
        milestone = Milestone(
            id=uuid.uuid4(),
            org_id=self.ctx.org_id,
            project_id=project.id,
            created_by_id=self.ctx.user_id,
            revision=1,
            created_at=now,
            updated_at=now,
            **data.model_dump(),
        )
        await self.milestones.add(milestone)
        return self._read(milestone, 0, 0)

    async def update(
        self, project: Project, milestone_id: uuid.UUID, data: MilestoneUpdate, if_match: IfMatch
    ) -> tuple[MilestoneRead, int]:
        changes = data.model_dump(exclude_unset=True)
        milestone = await self._locked(project, milestone_id, if_match)
        for field, value in changes.items():
            setattr(milestone, field, value)
        milestone.revision += 1
        milestone.updated_at = self.services.clock.now()
        await self.session.flush()
        return await self.get(project, milestone_id)

    async def delete(self, project: Project, milestone_id: uuid.UUID, if_match: IfMatch) -> None:
        # The project first (its counters change below), then the milestone, then its issues.
        if (
            await ProjectRepository(self.session, self.ctx.org_id).get_for_update(project.id)
            is None
        ):
            raise MilestoneNotFound()
        milestone = await self._locked(project, milestone_id, if_match, deleting=True)
        # Its issues leave it in the same transaction, and their representations change.
        await self.session.execute(
            update(Issue)
            .where(Issue.org_id == self.ctx.org_id, Issue.milestone_id == milestone.id)
            .values(milestone_id=None, version=Issue.version + 1)
        )
        project.issues_version += 1
        await self.session.delete(milestone)
        await self.session.flush()

    async def _locked(
        self,
        project: Project,
        milestone_id: uuid.UUID,
        if_match: IfMatch,
        *,
        deleting: bool = False,
    ) -> Milestone:
        """The milestone locked for a write; ``If-Match`` is checked against it as it is now."""
        milestone = await self.milestones.get_for_update(milestone_id, deleting=deleting)
        if milestone is None or milestone.project_id != project.id:
            raise MilestoneNotFound()
        if_match.check(milestone_etag(*await self.get(project, milestone_id)))
        return milestone

    def _read(self, milestone: Milestone, total: int, completed: int) -> tuple[MilestoneRead, int]:
        today = self.services.clock.now().date()
        target = milestone.target_date
        closed = milestone.status in ("completed", "cancelled")
        read = MilestoneRead(
            id=milestone.id,
            name=milestone.name,
            description=milestone.description,
            target_date=target,
            status=milestone.status,
            version=milestone.version,
            project_id=milestone.project_id,
            created_by_id=milestone.created_by_id,
            issue_count=int(total),
            completed_issue_count=int(completed),
            progress=round(100.0 * completed / total, 1) if total else 0.0,
            days_remaining=(target - today).days if target else None,
            overdue=bool(target and target < today and not closed),
            created_at=milestone.created_at,
            updated_at=milestone.updated_at,
        )
        return read, milestone.revision


def _done(project: Project) -> list[str]:
    return [c["name"] for c in project.columns if c["category"] in ("done", "cancelled")]
