from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.projects.errors import ColumnInUse, ProjectKeyTaken, ProjectNotFound, field_error
from projekt.projects.models import Project
from projekt.projects.schemas import (
    MAX_COLUMNS,
    ColumnIn,
    ColumnRead,
    ProjectCreate,
    ProjectMemberIn,
    ProjectMemberRead,
    ProjectRead,
    ProjectStatus,
    ProjectUpdate,
)
from projekt.projects.service import (
    ProjectService,
    project_etag,
    project_read,
)

router = APIRouter(tags=["projects"])

SORTABLE = {
    "name": Project.name,
    "key": Project.key,
    "created_at": Project.created_at,
    "updated_at": Project.updated_at,
}
ProjectList = Annotated[ListQuery, Depends(list_params(*SORTABLE, default="name"))]
ColumnList = Annotated[ListQuery, Depends(list_params("position", default="position"))]
MemberList = Annotated[
    ListQuery, Depends(list_params("name", "email", "added_at", default="added_at"))
]


async def get_project_service(session: SessionDep, services: ServicesDep) -> ProjectService:
    return ProjectService(session, services)


ProjectServiceDep = Annotated[ProjectService, Depends(get_project_service)]


def _tagged(project: Project, status_code: int = 200) -> Response:
    body = project_read(project).model_dump_json().encode()
    headers = {"ETag": project_etag(project)}
    return Response(body, status_code, headers, media_type="application/json")


@router.get(
    "/api/projects",
    response_model=list[ProjectRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
)
async def list_projects(
    ctx: OrgDep,
    projects: ProjectServiceDep,
    listed: ProjectList,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: ProjectStatus | None = None,
) -> Response:
    """Projects of the organization you can see (private ones only as a member or admin)."""
    found, total = await projects.listing(
        ctx,
        q=q,
        status=status,
        order=listed.order_by(SORTABLE),
        limit=listed.limit,
        offset=listed.offset,
    )
    return listed.respond([project_read(p) for p in found], total)


@router.post(
    "/api/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectKeyTaken),
)
async def create_project(body: ProjectCreate, ctx: OrgDep, projects: ProjectServiceDep) -> Response:
    """Create a project with the default board columns unless others are given."""
    project = await projects.create_from(ctx, body)
    response = _tagged(project, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/projects/{project.id}"
    return response


@router.get(
    "/api/projects/{project_id}",
    response_model=ProjectRead,
    responses=errors(*IN_ORG, ProjectNotFound, ValidationFailed),
)
async def get_project(project_id: uuid.UUID, ctx: OrgDep, projects: ProjectServiceDep) -> Response:
    """One project."""
    return _tagged(await projects.get_visible(ctx, project_id))


async def _update(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    if_match: IfMatchDep,
    ctx: OrgDep,
    projects: ProjectService,
) -> Response:
    return _tagged(await projects.update(ctx, project_id, body, if_match))


@router.put(
    "/api/projects/{project_id}",
    response_model=ProjectRead,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound, ProjectKeyTaken, PreconditionFailed
    ),
)
async def replace_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    if_match: IfMatchDep,
    ctx: OrgDep,
    projects: ProjectServiceDep,
) -> Response:
    """Update a project (PATCH semantics, as the Projekt apps send PUT)."""
    return await _update(project_id, body, if_match, ctx, projects)


@router.patch(
    "/api/projects/{project_id}",
    response_model=ProjectRead,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound, ProjectKeyTaken, PreconditionFailed
    ),
)
async def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    if_match: IfMatchDep,
    ctx: OrgDep,
    projects: ProjectServiceDep,
) -> Response:
    """Update the fields sent; null clears a nullable field."""
    return await _update(project_id, body, if_match, ctx, projects)


@router.delete(
    "/api/projects/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, ProjectNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def delete_project(
    project_id: uuid.UUID, if_match: IfMatchDep, ctx: OrgDep, projects: ProjectServiceDep
) -> Response:
    """Delete a project and all its issues."""
    await projects.delete(ctx, project_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/projects/{project_id}/columns",
    response_model=list[ColumnRead],
    responses=errors(*IN_ORG, *PAGED, ProjectNotFound, ValidationFailed),
)
async def get_columns(
    project_id: uuid.UUID, ctx: OrgDep, projects: ProjectServiceDep, listed: ColumnList
) -> Response:
    """The project's board columns, in order."""
    project = await projects.get_visible(ctx, project_id)
    return listed.respond(*listed.page_of(ColumnRead(**c) for c in project.columns))


@router.put(
    "/api/projects/{project_id}/columns",
    response_model=list[ColumnRead],
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound, ColumnInUse, PreconditionFailed
    ),
)
async def replace_columns(
    project_id: uuid.UUID,
    body: Annotated[list[ColumnIn], Body(min_length=1, max_length=MAX_COLUMNS)],
    if_match: IfMatchDep,
    ctx: OrgDep,
    projects: ProjectServiceDep,
) -> list[ColumnRead]:
    """Replace the columns: keep a column's key to rename it (its issues follow)."""
    if not 1 <= len(body) <= 20:
        raise field_error("columns", "A project has between 1 and 20 columns")
    project = await projects.replace_columns(ctx, project_id, body, if_match)
    return [ColumnRead(**c) for c in project.columns]


@router.get(
    "/api/projects/{project_id}/members",
    response_model=list[ProjectMemberRead],
    responses=errors(*IN_ORG, *PAGED, ProjectNotFound, ValidationFailed),
)
async def list_project_members(
    project_id: uuid.UUID, ctx: OrgDep, projects: ProjectServiceDep, listed: MemberList
) -> Response:
    """People added to the project (they see it even when it is private)."""
    found = await projects.members(ctx, await projects.get_visible(ctx, project_id))
    return listed.respond(*listed.page_of(found))


def _member(member: ProjectMemberRead, status_code: int = 200) -> Response:
    body = member.model_dump_json().encode()
    return Response(body, status_code, {"ETag": member.etag}, media_type="application/json")


@router.post(
    "/api/projects/{project_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectMemberRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound),
)
async def add_project_member(
    project_id: uuid.UUID, body: ProjectMemberIn, ctx: OrgDep, projects: ProjectServiceDep
) -> Response:
    """Add a person of the organization to the project, or set their sprint capacity."""
    project = await projects.get_visible(ctx, project_id)
    member = await projects.add_member(ctx, project, body.user_id, body.capacity_hours_per_day)
    response = _member(member, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/projects/{project.id}/members/{member.user_id}"
    return response


@router.get(
    "/api/projects/{project_id}/members/{user_id}",
    response_model=ProjectMemberRead,
    responses=errors(*IN_ORG, ProjectNotFound, ValidationFailed),
)
async def get_project_member(
    project_id: uuid.UUID, user_id: uuid.UUID, ctx: OrgDep, projects: ProjectServiceDep
) -> Response:
    """One person of the project, with the ETag its removal sends as If-Match."""
    project = await projects.get_visible(ctx, project_id)
    return _member(await projects.member(ctx, project, user_id))


@router.delete(
    "/api/projects/{project_id}/members",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, ValidationFailed, ProjectNotFound, PreconditionFailed
    ),
)
async def remove_project_member(
    project_id: uuid.UUID,
    user_id: Annotated[uuid.UUID, Query(description="The person to remove.")],
    if_match: IfMatchDep,
    ctx: OrgDep,
    projects: ProjectServiceDep,
) -> Response:
    """Remove a person from the project (`?user_id=`)."""
    project = await projects.get_visible(ctx, project_id)
    await projects.remove_member(ctx, project, user_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
