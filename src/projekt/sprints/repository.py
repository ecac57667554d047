"""Every statement on sprints, and the people and rates their capacity report reads."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from projekt.auth.models import User
from projekt.core.repository import OrgScopedRepository
from projekt.projects.models import Project, ProjectMember
from projekt.projects.visibility import visible_to
from projekt.sprints.models import Sprint


class SprintRepository(OrgScopedRepository[Sprint]):
    model = Sprint

    async def listing(
        self,
        user_id: uuid.UUID,
        project_id: uuid.UUID | None,
        state: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Sprint], int]:
        """A page of the sprints of projects the user may see, and how many there are."""
        stmt = (
            self.select(Sprint, func.count().over().label("total"))
            .join(Project, Project.id == Sprint.project_id)
            .where(visible_to(user_id))
        )
        if project_id is not None:
            stmt = stmt.where(Sprint.project_id == project_id)
        if state is not None:
            stmt = stmt.where(Sprint.state == state)
        stmt = stmt.order_by(Sprint.start_date.desc(), Sprint.id).limit(limit).offset(offset)
        rows = (await self.session.execute(stmt)).all()
        return [row.Sprint for row in rows], int(rows[0].total) if rows else 0

    async def change_state(self, sprint: Sprint, before: str, after: str, **values: Any) -> bool:
        """Move the sprint from ``before`` to ``after`` only if it is still in ``before``.

        A conditional UPDATE rather than a check in Python and a write: of two concurrent
        starts of one planned sprint, the second finds it active and matches no row.
        """
        stmt = (
            update(Sprint)
            .where(Sprint.id == sprint.id, Sprint.org_id == self.org_id, Sprint.state == before)
            .values(state=after, version=Sprint.version + 1, **values)
            .returning(Sprint.version)
            .execution_options(synchronize_session=False)
        )
        version = (await self.session.execute(stmt)).scalar_one_or_none()
        if version is None:
            return False
        # The ORM's copy follows the row without a second read, and without being marked
        # changed (a later flush must not write it again).
        for field, value in {**values, "state": after, "version": version}.items():
            set_committed_value(sprint, field, value)
        return True

    async def member_rates(self, project_id: uuid.UUID) -> dict[uuid.UUID, float | None]:
        """Each project member's hours per day (None: not set)."""
        stmt = select(ProjectMember.user_id, ProjectMember.capacity_hours_per_day).where(
            ProjectMember.org_id == self.org_id, ProjectMember.project_id == project_id
        )
        return {row.user_id: row.capacity_hours_per_day for row in await self.session.execute(stmt)}

    async def names(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not user_ids:
            return {}
        stmt = select(User.id, User.name).where(User.id.in_(user_ids))
        return {row.id: row.name for row in await self.session.execute(stmt)}
