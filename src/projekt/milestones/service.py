"""Milestones: releases of a project, with their progress computed in the query that lists them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.record import changes, record, snapshot
from projekt.issues.service import lock_project, milestone_issues, reassign_issues
from projekt.milestones.errors import MilestoneNotFound
from projekt.milestones.models import Milestone
from projekt.milestones.repository import MilestoneRepository
from projekt.milestones.schemas import MilestoneCreate, MilestoneRead, MilestoneUpdate
from projekt.projects.models import Project
from projekt.projects.service import ProjectService

# What a milestone's events compare.
RECORDED = ("name", "description", "target_date", "status", "version")


def milestone_etag(read: MilestoneRead, revision: int) -> str:
    # Counts are part of the representation: issues moving in or out change the tag too.
    return version_etag(
        "milestone", read.id, revision, read.issue_count, read.completed_issue_count, read.overdue
    )


class MilestoneService:
    def __init__(self, session: AsyncSession, services: AppServices, ctx: OrgContext) -> None:
        self.session = session
        self.services = services
        self.ctx = ctx
        self.milestones = MilestoneRepository(session, ctx.org_id)

    async def project(self, project_id: uuid.UUID) -> Project:
        return await ProjectService(self.session, self.services).get_visible(self.ctx, project_id)

    async def listing(
        self, project: Project, status: str | None
    ) -> list[tuple[MilestoneRead, int]]:
        rows = await self.milestones.listing(project.id, _done(project), status)
        return [
            self._read(row.Milestone, row.issue_count, row.completed_issue_count) for row in rows
        ]

    async def get(self, project: Project, milestone_id: uuid.UUID) -> tuple[MilestoneRead, int]:
        row = await self.milestones.one(project.id, _done(project), milestone_id)
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
        self._record("milestone.created", milestone, changes(None, snapshot(milestone, RECORDED)))
        return self._read(milestone, 0, 0)

    async def update(
        self, project: Project, milestone_id: uuid.UUID, data: MilestoneUpdate, if_match: IfMatch
    ) -> tuple[MilestoneRead, int]:
        changes = data.model_dump(exclude_unset=True)
        milestone = await self._locked(project, milestone_id, if_match)
        before = snapshot(milestone, RECORDED)
        for field, value in changes.items():
            setattr(milestone, field, value)
        milestone.revision += 1
        milestone.updated_at = self.services.clock.now()
        await self.session.flush()
        diff = _changes(before, snapshot(milestone, RECORDED))
        if diff:
            kind = (
                "milestone.completed"
                if diff.get("status", [0, 0])[1] == "completed"
                else ("milestone.updated")
            )
            self._record(kind, milestone, diff)
        return await self.get(project, milestone_id)

    async def delete(self, project: Project, milestone_id: uuid.UUID, if_match: IfMatch) -> None:
        """Its issues leave it in the same transaction, as issue writes: each one's version moves
        and each records its ``issue.updated`` event (as a sprint's delete does)."""
        # The project first (its counters change below), then the milestone, then its issues.
        if not await lock_project(self.session, self.ctx.org_id, project.id):
            raise MilestoneNotFound()
        milestone = await self._locked(project, milestone_id, if_match, deleting=True)
        issues = await milestone_issues(self.session, self.ctx.org_id, milestone.id)
        await reassign_issues(
            self.session,
            self.ctx,
            self.services,
            issues,
            {"milestone_id": None},
        )
        last = changes(snapshot(milestone, RECORDED), None)
        await self.milestones.delete(milestone)
        self._record("milestone.deleted", milestone, last)

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

    def _record(self, kind: str, milestone: Milestone, diff: dict[str, Any]) -> None:
        record(self.session, self.ctx, kind, milestone.id, project_id=milestone.project_id,
               changes=diff)  # fmt: skip

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


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return changes(before, after, RECORDED)


def _done(project: Project) -> list[str]:
    return [c["name"] for c in project.columns if c["category"] in ("done", "cancelled")]
