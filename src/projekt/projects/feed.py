"""What the changes feed shows of projects and their members (``core.feed``): each as its REST
``GET`` answers it, read for a whole page in one statement per type on the fast path."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from projekt.auth.models import User
from projekt.core.feed import Feed, Read, Representations, among
from projekt.projects.models import Project, ProjectMember
from projekt.projects.schemas import ColumnRead, ProjectRead
from projekt.projects.service import member_etag
from projekt.projects.visibility import visible_to

feed = Feed()
P = bindparam

_PROJECT_FIELDS = tuple(name for name in ProjectRead.model_fields if name != "columns")
_COLUMN_FIELDS = tuple(ColumnRead.model_fields)
PROJECTS = select(*[getattr(Project, name) for name in _PROJECT_FIELDS], Project.columns).where(
    Project.org_id == P("org_id"), among(Project.id), visible_to(P("user_id"))
)
# A membership is read where its project is (GET /api/projects/{id}/members). An alias: the
# membership test inside ``visible_to`` reads project_members too, uncorrelated.
_MEMBER = aliased(ProjectMember)
MEMBERS = (
    select(
        _MEMBER.id,
        _MEMBER.project_id,
        _MEMBER.user_id,
        _MEMBER.added_at,
        _MEMBER.capacity_hours_per_day,
        User.name,
        User.email,
    )
    .join(User, User.id == _MEMBER.user_id)
    .join(Project, Project.id == _MEMBER.project_id)
    .where(_MEMBER.org_id == P("org_id"), among(_MEMBER.id), visible_to(P("user_id")))
)


def _project(row: Any) -> dict[str, Any]:
    found = {name: row[name] for name in _PROJECT_FIELDS}
    # ProjectRead's columns: each with exactly ColumnRead's fields.
    found["columns"] = [{k: column[k] for k in _COLUMN_FIELDS} for column in row["columns"]]
    return found


@feed.reader("project")
async def projects(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    rows = await read.services.fast.fetch(PROJECTS, {**read.scope, "ids": ids})
    return {row["id"]: _project(row) for row in rows}


@feed.reader("project_member")
async def members(read: Read, ids: Sequence[uuid.UUID]) -> Representations:
    rows = await read.services.fast.fetch(MEMBERS, {**read.scope, "ids": ids})
    return {
        row["id"]: {
            "user_id": row["user_id"],
            "name": row["name"],
            "email": row["email"],
            "added_at": row["added_at"],
            "capacity_hours_per_day": row["capacity_hours_per_day"],
            "etag": member_etag(row["project_id"], row["user_id"], row["capacity_hours_per_day"]),
        }
        for row in rows
    }
