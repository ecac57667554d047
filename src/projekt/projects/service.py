"""Projects: CRUD, board columns and members, with private-project visibility."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext
from projekt.core.deps import AppServices
from projekt.core.record import SYSTEM, Actor, changes, record, snapshot
from projekt.issues.service import issue_counts_by_status, rename_status
from projekt.projects.errors import ColumnInUse, ProjectKeyTaken, ProjectNotFound, field_error
from projekt.projects.models import Project, ProjectMember
from projekt.projects.repository import (
    ProjectMemberRepository,
    ProjectRepository,
    visible_refs_in_orgs,
)
from projekt.projects.schemas import (
    ColumnIn,
    ProjectCreate,
    ProjectMemberRead,
    ProjectRead,
    ProjectUpdate,
)

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


def project_etag(project: Project) -> str:
    return version_etag("project", project.id, project.version)


def member_etag(project_id: uuid.UUID, user_id: uuid.UUID, capacity: float | None) -> str:
    """A project member's validator, from the one thing a re-add changes (the capacity)."""
    return version_etag("project_member", project_id, user_id, capacity)


# What a project's events compare (API.md §9 ``changes``).
RECORDED = ("key", "name", "description", "visibility", "status", "lead_id", "columns")


def project_event_type(diff: dict[str, list[Any]]) -> str:
    """``project.archived`` when the write archives it, else ``project.updated``."""
    if diff.get("status", [None, None])[1] == "archived":
        return "project.archived"
    return "project.updated"


def project_read(project: Project) -> ProjectRead:
    return ProjectRead.model_validate(project)


class ProjectService:
    def __init__(self, session: AsyncSession, services: AppServices) -> None:
        self.session = session
        self.services = services
        self.clock = services.clock

    # -- reads ------------------------------------------------------------------------------

    async def get_visible(self, ctx: OrgContext, project_id: uuid.UUID) -> Project:
        project = await ProjectRepository(self.session, ctx.org_id).visible_one(
            project_id, ctx.user_id
        )
        if project is None:
            raise ProjectNotFound()
        return project

    async def locked(
        self, ctx: OrgContext, project_id: uuid.UUID, if_match: IfMatch, *, deleting: bool = False
    ) -> Project:
        """The project locked for a write, with ``If-Match`` checked against the locked row."""
        await self.get_visible(ctx, project_id)
        project = await ProjectRepository(self.session, ctx.org_id).get_for_update(
            project_id, deleting=deleting
        )
        if project is None:  # deleted since it was read
            raise ProjectNotFound()
        if_match.check(project_etag(project))
        return project

    async def listing(self, ctx: OrgContext, **filters: Any) -> tuple[list[Project], int]:
        return await ProjectRepository(self.session, ctx.org_id).listing(ctx.user_id, **filters)

    async def visible(
        self, org_id: uuid.UUID, user_id: uuid.UUID, q: str, limit: int
    ) -> list[Project]:
        return await ProjectRepository(self.session, org_id).visible(user_id, q, limit)

    async def refs_in_orgs(
        self, user_id: uuid.UUID, org_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[Any]]:
        return await visible_refs_in_orgs(self.session, user_id, org_ids)

    # -- writes -----------------------------------------------------------------------------

    async def create(
        self,
        org_id: uuid.UUID,
        created_by: uuid.UUID,
        key: str,
        name: str,
        description: str | None = None,
        visibility: str = "org",
        *,
        status: str = "active",
        lead_id: uuid.UUID | None = None,
        columns: list[dict[str, Any]] | None = None,
        by: OrgContext | None = None,
    ) -> Project:
        """A new project; ``by``: the request that creates it (else the server: the cli)."""
        repo = ProjectRepository(self.session, org_id)
        if await repo.key_taken(key):
            raise ProjectKeyTaken()
        now = self.clock.now()
        project = Project(
            id=uuid.uuid4(),
            org_id=org_id,
            key=key,
            name=name,
            description=description,
            visibility=visibility,
            status=status,
            lead_id=lead_id if lead_id is not None else created_by,
            columns=columns or default_columns(),
            issue_seq=0,
            version=1,
            issues_version=0,
            open_issues=0,
            archived_issues=0,
            created_by_id=created_by,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                await repo.add(project)
        except IntegrityError:  # a concurrent create took the key
            raise ProjectKeyTaken() from None
        actor = by or (org_id, Actor(created_by, SYSTEM.credential_kind))
        record(self.session, actor, "project.created", project.id, project_id=project.id,
               changes=changes(None, snapshot(project, RECORDED)))  # fmt: skip
        if visibility == "private":
            # The creator of a private project can see it.
            member = await self._add_member(project, created_by)
            self._record_member(actor, "member.added", member, {"user_id": [None, str(created_by)]})
        return project

    async def create_from(self, ctx: OrgContext, data: ProjectCreate) -> Project:
        if data.lead_id is not None:
            await self._require_org_member(ctx, data.lead_id, "lead_id")
        columns = normalize_columns(data.columns) if data.columns else None
        return await self.create(
            ctx.org_id,
            ctx.user_id,
            data.key,
            data.name,
            data.description,
            data.visibility,
            status=data.status,
            lead_id=data.lead_id,
            columns=columns,
            by=ctx,
        )

    async def update(
        self, ctx: OrgContext, project_id: uuid.UUID, data: ProjectUpdate, if_match: IfMatch
    ) -> Project:
        changes = data.model_dump(exclude_unset=True)
        project = await self.locked(ctx, project_id, if_match)
        repo = ProjectRepository(self.session, ctx.org_id)
        if changes.get("key") and await repo.key_taken(changes["key"], other_than=project.id):
            raise ProjectKeyTaken()
        if changes.get("lead_id") is not None:
            await self._require_org_member(ctx, changes["lead_id"], "lead_id")
        before = snapshot(project, RECORDED)
        for field, value in changes.items():
            setattr(project, field, value)
        await self._touch(project, issues_changed="key" in changes)
        diff = changes_of(before, project)
        if diff:
            record(self.session, ctx, project_event_type(diff), project.id,
                   project_id=project.id, changes=diff)  # fmt: skip
        return project

    async def delete(self, ctx: OrgContext, project_id: uuid.UUID, if_match: IfMatch) -> None:
        project = await self.locked(ctx, project_id, if_match, deleting=True)
        last = changes(snapshot(project, RECORDED), None)
        await ProjectRepository(self.session, ctx.org_id).delete(project.id)
        # Its issues, sprints, milestones and members go with it, under this one event.
        record(self.session, ctx, "project.deleted", project.id, project_id=project.id,
               changes=last)  # fmt: skip

    async def replace_columns(
        self, ctx: OrgContext, project_id: uuid.UUID, columns: list[ColumnIn], if_match: IfMatch
    ) -> Project:
        new = normalize_columns(columns)
        project = await self.locked(ctx, project_id, if_match)
        old_by_key = {c["key"]: c for c in project.columns}
        new_names = {c["name"] for c in new}
        renames = {
            old_by_key[c["key"]]["name"]: c["name"]
            for c in new
            if c["key"] in old_by_key and old_by_key[c["key"]]["name"] != c["name"]
        }
        counts = await issue_counts_by_status(self.session, ctx.org_id, project.id)
        for name, count in counts.items():
            if count and name not in new_names and name not in renames:
                raise ColumnInUse(f"The column '{name}' still holds {count} issue(s).")
        for old, new_name in renames.items():
            await rename_status(self.session, ctx, project.id, old, new_name)
        before = snapshot(project, RECORDED)
        project.columns = new
        await self._touch(project, issues_changed=bool(renames))
        diff = changes_of(before, project)
        if diff:
            record(self.session, ctx, "project.updated", project.id, project_id=project.id,
                   changes=diff)  # fmt: skip
        return project

    async def _touch(self, project: Project, *, issues_changed: bool) -> None:
        project.version += 1
        if issues_changed:
            project.issues_version += 1
        project.updated_at = self.clock.now()
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except IntegrityError:
            raise ProjectKeyTaken() from None

    # -- members ----------------------------------------------------------------------------

    async def members(self, ctx: OrgContext, project: Project) -> list[ProjectMemberRead]:
        rows = await ProjectMemberRepository(self.session, ctx.org_id).listing(project.id)
        return [
            ProjectMemberRead(
                user_id=row.User.id,
                name=row.User.name,
                email=row.User.email,
                added_at=row.ProjectMember.added_at,
                capacity_hours_per_day=row.ProjectMember.capacity_hours_per_day,
                etag=member_etag(project.id, row.User.id, row.ProjectMember.capacity_hours_per_day),
            )
            for row in rows
        ]

    async def member(
        self, ctx: OrgContext, project: Project, user_id: uuid.UUID
    ) -> ProjectMemberRead:
        found = next((m for m in await self.members(ctx, project) if m.user_id == user_id), None)
        if found is None:
            raise ProjectNotFound("That person is not a member of this project.")
        return found

    async def member_by_id(self, ctx: OrgContext, member_id: uuid.UUID) -> ProjectMemberRead | None:
        """A project membership by its own id, if it exists and its project is visible."""
        member = await ProjectMemberRepository(self.session, ctx.org_id).get(member_id)
        if member is None:
            return None
        try:
            project = await self.get_visible(ctx, member.project_id)
            return await self.member(ctx, project, member.user_id)
        except ProjectNotFound:
            return None

    async def add_member(
        self,
        ctx: OrgContext,
        project: Project,
        user_id: uuid.UUID,
        capacity_hours_per_day: float | None = None,
    ) -> ProjectMemberRead:
        """Add a person (or, when already a member, update their sprint capacity)."""
        await self._require_org_member(ctx, user_id, "user_id")
        repo = ProjectMemberRepository(self.session, ctx.org_id)
        member = await repo.find(project.id, user_id, for_update=True)
        added = member is None
        if member is None:
            await self._add_member(project, user_id)
            member = await repo.find(project.id, user_id)
        assert member is not None
        capacity = member.capacity_hours_per_day
        if capacity_hours_per_day is not None:
            member.capacity_hours_per_day = capacity_hours_per_day
            await self.session.flush()
        diff: dict[str, Any] = {"capacity_hours_per_day": [capacity, member.capacity_hours_per_day]}
        if added:
            diff = {"user_id": [None, str(user_id)]} | (
                {"capacity_hours_per_day": [None, capacity_hours_per_day]}
                if capacity_hours_per_day is not None
                else {}
            )
            self._record_member(ctx, "member.added", member, diff)
        elif capacity != member.capacity_hours_per_day:
            self._record_member(ctx, "member.updated", member, diff)
        return next(m for m in await self.members(ctx, project) if m.user_id == user_id)

    async def remove_member(
        self, ctx: OrgContext, project: Project, user_id: uuid.UUID, if_match: IfMatch
    ) -> None:
        repo = ProjectMemberRepository(self.session, ctx.org_id)
        member = await repo.find(project.id, user_id, for_update=True)
        if member is None:
            raise ProjectNotFound("That person is not a member of this project.")
        if_match.check(member_etag(project.id, user_id, member.capacity_hours_per_day))
        await self.session.delete(member)
        await self.session.flush()
        self._record_member(ctx, "member.removed", member, {"user_id": [str(user_id), None]})

    async def _add_member(self, project: Project, user_id: uuid.UUID) -> ProjectMember:
        member = ProjectMember(
            id=uuid.uuid4(),
            org_id=project.org_id,
            project_id=project.id,
            user_id=user_id,
            added_at=self.clock.now(),
            capacity_hours_per_day=None,
        )
        await ProjectMemberRepository(self.session, project.org_id).add(member)
        return member

    def _record_member(
        self,
        by: OrgContext | tuple[uuid.UUID, Actor],
        kind: str,
        member: ProjectMember,
        diff: dict[str, Any],
    ) -> None:
        """A project membership's event: ``member.*`` about the ``project_member``."""
        record(self.session, by, kind, member.id, project_id=member.project_id,
               changes=diff, resource_type="project_member")  # fmt: skip

    async def _require_org_member(self, ctx: OrgContext, user_id: uuid.UUID, field: str) -> None:
        if not await ProjectRepository(self.session, ctx.org_id).is_org_member(user_id):
            raise field_error(field, f"The {field} must be a member of this organization")


def changes_of(before: dict[str, Any], project: Project) -> dict[str, list[Any]]:
    return changes(before, snapshot(project, RECORDED), RECORDED)


def normalize_columns(columns: list[ColumnIn]) -> list[dict[str, Any]]:
    ordered = sorted(
        enumerate(columns),
        key=lambda pair: (pair[1].position if pair[1].position is not None else pair[0], pair[0]),
    )
    result: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    seen_keys: set[str] = set()
    for position, (_, column) in enumerate(ordered):
        folded = column.name.casefold()
        if folded in seen_names:
            raise field_error("columns", f"The column name '{column.name}' is used twice")
        key = column.key or _column_key(column.name, seen_keys)
        if key in seen_keys:
            raise field_error("columns", f"The column key '{key}' is used twice")
        seen_names.add(folded)
        seen_keys.add(key)
        result.append(
            {"key": key, "name": column.name, "category": column.category, "position": position}
        )
    return result


def _column_key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:36] or "column"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key
