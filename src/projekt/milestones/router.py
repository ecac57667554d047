from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.milestones.errors import MilestoneNotFound
from projekt.milestones.schemas import (
    MilestoneCreate,
    MilestoneRead,
    MilestoneStatus,
    MilestoneUpdate,
)
from projekt.milestones.service import MilestoneService, milestone_etag
from projekt.projects.errors import ProjectNotFound

router = APIRouter(tags=["milestones"])


async def get_milestone_service(
    session: SessionDep, services: ServicesDep, ctx: OrgDep
) -> MilestoneService:
    return MilestoneService(session, services, ctx)


MilestoneServiceDep = Annotated[MilestoneService, Depends(get_milestone_service)]
BASE = "/api/projects/{project_id}/milestones"
MilestoneList = Annotated[
    ListQuery,
    Depends(list_params("target_date", "name", "created_at", default="target_date")),
]


def _tagged(found: tuple[MilestoneRead, int], status_code: int = 200) -> Response:
    read, revision = found
    body = read.model_dump_json().encode()
    headers = {"ETag": milestone_etag(read, revision)}
    return Response(body, status_code, headers, media_type="application/json")


@router.get(
    BASE,
    response_model=list[MilestoneRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed, ProjectNotFound),
)
async def list_milestones(
    project_id: uuid.UUID,
    milestones: MilestoneServiceDep,
    listed: MilestoneList,
    status: MilestoneStatus | None = None,
) -> Response:
    """A project's milestones, soonest target first, with progress."""
    project = await milestones.project(project_id)
    found = await milestones.listing(project, status)
    return listed.respond(*listed.page_of(read for read, _ in found))


@router.post(
    BASE,
    status_code=status.HTTP_201_CREATED,
    response_model=MilestoneRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, ProjectNotFound),
)
async def create_milestone(
    project_id: uuid.UUID, body: MilestoneCreate, milestones: MilestoneServiceDep
) -> Response:
    """Plan a milestone (a release) of the project."""
    created = await milestones.create(await milestones.project(project_id), body)
    response = _tagged(created, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/projects/{project_id}/milestones/{created[0].id}"
    return response


@router.get(
    BASE + "/{milestone_id}",
    response_model=MilestoneRead,
    responses=errors(*IN_ORG, ProjectNotFound, MilestoneNotFound, ValidationFailed),
)
async def get_milestone(
    project_id: uuid.UUID, milestone_id: uuid.UUID, milestones: MilestoneServiceDep
) -> Response:
    """One milestone with its progress."""
    return _tagged(await milestones.get(await milestones.project(project_id), milestone_id))


async def _update(
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    body: MilestoneUpdate,
    if_match: IfMatchDep,
    milestones: MilestoneService,
) -> Response:
    project = await milestones.project(project_id)
    return _tagged(await milestones.update(project, milestone_id, body, if_match))


@router.put(
    BASE + "/{milestone_id}",
    response_model=MilestoneRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        ProjectNotFound,
        MilestoneNotFound,
        PreconditionFailed,
    ),
)
async def replace_milestone(
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    body: MilestoneUpdate,
    if_match: IfMatchDep,
    milestones: MilestoneServiceDep,
) -> Response:
    """Update a milestone (PATCH semantics, as the Projekt apps send PUT)."""
    return await _update(project_id, milestone_id, body, if_match, milestones)


@router.patch(
    BASE + "/{milestone_id}",
    response_model=MilestoneRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        ProjectNotFound,
        MilestoneNotFound,
        PreconditionFailed,
    ),
)
async def update_milestone(
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    body: MilestoneUpdate,
    if_match: IfMatchDep,
    milestones: MilestoneServiceDep,
) -> Response:
    """Update the fields sent."""
    return await _update(project_id, milestone_id, body, if_match, milestones)


@router.delete(
    BASE + "/{milestone_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        ProjectNotFound,
        MilestoneNotFound,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def delete_milestone(
    project_id: uuid.UUID,
    milestone_id: uuid.UUID,
    if_match: IfMatchDep,
    milestones: MilestoneServiceDep,
) -> Response:
    """Delete a milestone; its issues leave it in the same transaction."""
    project = await milestones.project(project_id)
    await milestones.delete(project, milestone_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
