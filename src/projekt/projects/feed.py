"""What the changes feed shows of projects and their members (``core.feed``): each as its REST
``GET`` answers it, read with the feed's page of events (joined: no statement of their own)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from projekt.auth.models import User
from projekt.core.feed import Feed
from projekt.projects.models import Project, ProjectMember
from projekt.projects.schemas import ColumnRead, ProjectRead
from projekt.projects.service import member_etag
from projekt.projects.visibility import visible_to

feed = Feed()
P = bindparam

_PROJECT_FIELDS = tuple(name for name in ProjectRead.model_fields if name != "columns")
_COLUMN_FIELDS = tuple(ColumnRead.model_fields)
PROJECTS = select(*[getattr(Project, name) for name in _PROJECT_FIELDS], Project.columns).where(
    Project.org_id == P("org_id"), visible_to(P("user_id"))
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
    .where(_MEMBER.org_id == P("org_id"), visible_to(P("user_id")))
)


@feed.join("project", PROJECTS)
def project(values: Sequence[Any]) -> Mapping[str, Any]:
    found = dict(zip(_PROJECT_FIELDS, values[:-1], strict=True))
    # ProjectRead's columns: each with exactly ColumnRead's fields.
    found["columns"] = [{k: column[k] for k in _COLUMN_FIELDS} for column in values[-1]]
    return found


@feed.join("project_member", MEMBERS)
def member(values: Sequence[Any]) -> Mapping[str, Any]:
    _, project_id, user_id, added_at, capacity, name, email = values
    return {
        "user_id": user_id,
        "name": name,
        "email": email,
        "added_at": added_at,
        "capacity_hours_per_day": capacity,
        "etag": member_etag(project_id, user_id, capacity),
    }
