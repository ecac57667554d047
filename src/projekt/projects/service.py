"""Projects: the part the identity layer and the demo seed need (full CRUD lives with issues)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.clock import Clock
from projekt.core.errors import Conflict
from projekt.projects.models import Project
from projekt.projects.repository import ProjectRepository, visible_refs_in_orgs

DEFAULT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("backlog", "Backlog", "todo"),
    ("todo", "To Do", "todo"),
    ("in_progress", "In Progress", "in_progress"),
    ("in_review", "In Review", "in_progress"),
    ("done", "Done", "done"),
)


def default_columns() -> list[dict[str, Any]]:
    return [
        {"key": key, "name": name, "category": category, "position": position}
        for position, (key, name, category) in enumerate(DEFAULT_COLUMNS)
    ]


class ProjectKeyTaken(Conflict):
    code, message = "project_key_taken", "Another project of this organization has this key."


class ProjectService:
    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    async def create(
        self,
        org_id: uuid.UUID,
        created_by: uuid.UUID,
        key: str,
        name: str,
        description: str | None = None,
        visibility: str = "org",
    ) -> Project:
        repo = ProjectRepository(self.session, org_id)
        if await repo.key_taken(key):
            raise ProjectKeyTaken()
        now = self.clock.now()
        return await repo.add(
            Project(
                id=uuid.uuid4(),
                org_id=org_id,
                key=key,
                name=name,
                description=description,
                visibility=visibility,
                status="active",
                lead_id=created_by,
                columns=default_columns(),
                issue_seq=0,
                created_by_id=created_by,
                created_at=now,
                updated_at=now,
            )
        )

    async def visible(
        self, org_id: uuid.UUID, user_id: uuid.UUID, q: str, limit: int
    ) -> list[Project]:
        return await ProjectRepository(self.session, org_id).visible(user_id, q, limit)

    async def refs_in_orgs(
        self, user_id: uuid.UUID, org_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[Any]]:
        return await visible_refs_in_orgs(self.session, user_id, org_ids)
