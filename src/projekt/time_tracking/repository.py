"""Every statement on time entries. Reads apply project visibility; sums run in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    update,
)

from projekt.auth.models import User
from projekt.core.repository import OrgScopedRepository
from projekt.issues.models import Issue
from projekt.orgs.models import Membership
from projekt.projects.models import Project
from projekt.projects.visibility import visible_to
from projekt.time_tracking.models import TimeEntry

SORTABLE = {
    "entry_date": TimeEntry.entry_date,
    "created_at": TimeEntry.created_at,
    "minutes": TimeEntry.minutes,
}


def effective_minutes(cutoff: datetime, limit: int) -> ColumnElement[Any]:
    """What an entry counts for: its minutes; a timer that ran past the limit counts the limit
    (it stopped there, whether or not a write has recorded that yet); a running one, nothing."""
    return case(
        (TimeEntry.minutes.is_not(None), TimeEntry.minutes),
        (and_(TimeEntry.running, TimeEntry.started_at <= cutoff), literal(limit)),
        else_=None,
    )


class TimeEntryRepository(OrgScopedRepository[TimeEntry]):
    model = TimeEntry

    def _visible(self, viewer_id: uuid.UUID, *columns: Any) -> Any:
        return (
            self.select(*columns)
            .select_from(TimeEntry)
            .join(Project, Project.id == TimeEntry.project_id)
            .where(visible_to(viewer_id))
        )

    async def visible_one(self, entry_id: uuid.UUID, viewer_id: uuid.UUID) -> TimeEntry | None:
        stmt = self._visible(viewer_id, TimeEntry).where(TimeEntry.id == entry_id)
        found: TimeEntry | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def lock_person(self, user_id: uuid.UUID) -> bool:
        """Serialize one person's time writes in the org (the 24-hour rule and the one running
        timer are check-then-write); False if the person is not a member."""
        stmt = (
            update(Membership)
            .where(Membership.org_id == self.org_id, Membership.user_id == user_id)
            .values(id=Membership.id)
        )
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))

    async def running_of(self, user_id: uuid.UUID) -> TimeEntry | None:
        stmt = (
            self.select()
            .where(TimeEntry.user_id == user_id, TimeEntry.running.is_(True))
            .execution_options(populate_existing=True)
        )
        found: TimeEntry | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def day_total(
        self, user_id: uuid.UUID, day: date, exclude: uuid.UUID | None = None
    ) -> int:
        stmt = self.select(func.coalesce(func.sum(TimeEntry.minutes), 0)).where(
            TimeEntry.user_id == user_id, TimeEntry.entry_date == day
        )
        if exclude is not None:
            stmt = stmt.where(TimeEntry.id != exclude)
        return int((await self.session.execute(stmt)).scalar_one())

    async def listing(
        self,
        viewer_id: uuid.UUID,
        filters: Sequence[ColumnElement[bool]],
        order: Sequence[ColumnElement[Any]],
        limit: int,
        offset: int,
    ) -> tuple[list[TimeEntry], int]:
        """One statement: the page, and the total as a window over the filtered rows."""
        stmt = (
            self._visible(viewer_id, TimeEntry, func.count().over().label("total"))
            .where(*filters)
            .order_by(*order, TimeEntry.id)
            .limit(limit)
            .offset(offset)
        )
        rows = (await self.session.execute(stmt)).all()
        if rows:
            return [row.TimeEntry for row in rows], int(rows[0].total)
        if offset == 0:
            return [], 0
        count = self._visible(viewer_id, func.count()).where(*filters)
        return [], int((await self.session.execute(count)).scalar_one())

    async def grouped(
        self,
        viewer_id: uuid.UUID,
        by: str,
        filters: Sequence[ColumnElement[bool]],
        minutes: ColumnElement[Any],
    ) -> list[Row[Any]]:
        """Rows of (key, label, total, billable, count) for one grouping, in SQL."""
        billable = func.sum(case((TimeEntry.billable, minutes), else_=0))
        sums = (
            func.coalesce(func.sum(minutes), 0).label("total"),
            func.coalesce(billable, 0).label("billable"),
            func.count().label("entries"),
        )
        key: Any
        label: Any
        stmt = self._visible(viewer_id).where(*filters, minutes.is_not(None))
        if by == "user":
            key, label = TimeEntry.user_id, User.name
            stmt = stmt.outerjoin(User, User.id == TimeEntry.user_id)
        elif by == "project":
            key, label = TimeEntry.project_id, Project.key
        elif by == "issue":
            key = TimeEntry.issue_id
            label = Project.key + "-" + cast(Issue.number, String)
            stmt = stmt.outerjoin(Issue, Issue.id == TimeEntry.issue_id)
        else:  # day; weeks are days folded by the service
            key = label = TimeEntry.entry_date
        stmt = stmt.with_only_columns(key.label("key"), label.label("label"), *sums)
        stmt = stmt.group_by(key, label).order_by(key)
        return list((await self.session.execute(stmt)).all())

    async def by_user(
        self, viewer_id: uuid.UUID, issue_id: uuid.UUID, minutes: ColumnElement[Any]
    ) -> list[Row[Any]]:
        stmt = (
            self._visible(
                viewer_id,
                TimeEntry.user_id,
                User.name,
                func.sum(minutes).label("total"),
                func.count().label("entries"),
            )
            .outerjoin(User, User.id == TimeEntry.user_id)
            .where(TimeEntry.issue_id == issue_id, minutes.is_not(None))
            .group_by(TimeEntry.user_id, User.name)
            .order_by(func.sum(minutes).desc(), User.name)
        )
        return list((await self.session.execute(stmt)).all())

    async def week_of(
        self,
        viewer_id: uuid.UUID,
        user_id: uuid.UUID,
        first: date,
        last: date,
        minutes: ColumnElement[Any],
    ) -> list[Row[Any]]:
        """One person's minutes per (project, issue, day) in a week, with the keys to show."""
        stmt = (
            self._visible(
                viewer_id,
                TimeEntry.project_id,
                Project.key.label("project_key"),
                TimeEntry.issue_id,
                Issue.number.label("issue_number"),
                TimeEntry.entry_date,
                func.sum(minutes).label("total"),
            )
            .outerjoin(Issue, Issue.id == TimeEntry.issue_id)
            .where(
                TimeEntry.user_id == user_id,
                TimeEntry.entry_date >= first,
                TimeEntry.entry_date <= last,
                minutes.is_not(None),
            )
            .group_by(
                TimeEntry.project_id,
                Project.key,
                TimeEntry.issue_id,
                Issue.number,
                TimeEntry.entry_date,
            )
            .order_by(Project.key, Issue.number, TimeEntry.entry_date)
        )
        return list((await self.session.execute(stmt)).all())

    async def delete(self, entry: TimeEntry) -> None:
        await self.session.delete(entry)
        await self.session.flush()
