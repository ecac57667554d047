"""Every statement on milestones; their issue counts are read in the statement that lists them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, Select, and_, func, select

from projekt.core.repository import OrgScopedRepository
from projekt.issues.models import Issue
from projekt.milestones.models import Milestone


class MilestoneRepository(OrgScopedRepository[Milestone]):
    model = Milestone

    def _with_counts(self, project_id: uuid.UUID, done: list[str]) -> Select[Any]:
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

    async def listing(
        self, project_id: uuid.UUID, done: list[str], status: str | None
    ) -> list[Row[Any]]:
        """Rows of (``Milestone``, ``issue_count``, ``completed_issue_count``), soonest first;
        ``done``: the statuses that count as completed."""
        stmt = self._with_counts(project_id, done)
        if status is not None:
            stmt = stmt.where(Milestone.status == status)
        stmt = stmt.order_by(Milestone.target_date.is_(None), Milestone.target_date, Milestone.id)
        return list((await self.session.execute(stmt)).all())

    async def one(
        self, project_id: uuid.UUID, done: list[str], milestone_id: uuid.UUID
    ) -> Row[Any] | None:
        stmt = self._with_counts(project_id, done).where(Milestone.id == milestone_id)
        row: Row[Any] | None = (await self.session.execute(stmt)).first()
        return row

    async def delete(self, milestone: Milestone) -> None:
        await self.session.delete(milestone)
        await self.session.flush()
