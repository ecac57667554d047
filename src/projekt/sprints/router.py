from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params
from projekt.sprints.errors import SprintAlreadyActive, SprintNotFound, SprintStateConflict
from projekt.sprints.models import Sprint
from projekt.sprints.schemas import (
    Burndown,
    Capacity,
    SprintComplete,
    SprintCreate,
    SprintRead,
    SprintState,
    SprintStats,
    SprintUpdate,
)
from projekt.sprints.service import SprintService, sprint_etag

router = APIRouter(tags=["sprints"])


async def get_sprint_service(
    session: SessionDep, services: ServicesDep, ctx: OrgDep
) -> SprintService:
    return SprintService(session, services, ctx)


SprintServiceDep = Annotated[SprintService, Depends(get_sprint_service)]
# The service orders sprints newest first by itself; no other order is offered yet.
SprintList = Annotated[ListQuery, Depends(list_params("-start_date", default="-start_date"))]


def _tagged(sprint: Sprint, status_code: int = 200) -> Response:
    body = SprintRead.model_validate(sprint).model_dump_json().encode()
    headers = {"ETag": sprint_etag(sprint)}
    return Response(body, status_code, headers, media_type="application/json")


@router.get(
    "/api/sprints",
    response_model=list[SprintRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
)
async def list_sprints(
    sprints: SprintServiceDep,
    listed: SprintList,
    project_id: uuid.UUID | None = None,
    state: SprintState | None = None,
) -> Response:
    """Sprints of the projects you can see, newest first."""
    found, total = await sprints.listing(project_id, state, listed.limit, listed.offset)
    return listed.respond([SprintRead.model_validate(s) for s in found], total)


@router.post(
    "/api/sprints",
    status_code=status.HTTP_201_CREATED,
    response_model=SprintRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY),
)
async def create_sprint(body: SprintCreate, sprints: SprintServiceDep) -> Response:
    """Plan a sprint for a project."""
    sprint = await sprints.create(body)
    response = _tagged(sprint, status.HTTP_201_CREATED)
    response.headers["Location"] = f"/api/sprints/{sprint.id}"
    return response


@router.get(
    "/api/sprints/{sprint_id}",
    response_model=SprintRead,
    responses=errors(*IN_ORG, SprintNotFound, ValidationFailed),
)
async def get_sprint(sprint_id: uuid.UUID, sprints: SprintServiceDep) -> Response:
    """One sprint."""
    return _tagged(await sprints.get(sprint_id))


async def _update(
    sprint_id: uuid.UUID, body: SprintUpdate, if_match: IfMatchDep, sprints: SprintService
) -> Response:
    return _tagged(await sprints.update(sprint_id, body, if_match))


@router.put(
    "/api/sprints/{sprint_id}",
    response_model=SprintRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        SprintNotFound,
        SprintStateConflict,
        PreconditionFailed,
    ),
)
async def replace_sprint(
    sprint_id: uuid.UUID, body: SprintUpdate, if_match: IfMatchDep, sprints: SprintServiceDep
) -> Response:
    """Update a sprint (PATCH semantics, as the Projekt apps send PUT)."""
    return await _update(sprint_id, body, if_match, sprints)


@router.patch(
    "/api/sprints/{sprint_id}",
    response_model=SprintRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        SprintNotFound,
        SprintStateConflict,
        PreconditionFailed,
    ),
)
async def update_sprint(
    sprint_id: uuid.UUID, body: SprintUpdate, if_match: IfMatchDep, sprints: SprintServiceDep
) -> Response:
    """Update the fields sent."""
    return await _update(sprint_id, body, if_match, sprints)


@router.delete(
    "/api/sprints/{sprint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *ROLE, *SESSION_WRITE, SprintNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def delete_sprint(
    sprint_id: uuid.UUID, if_match: IfMatchDep, sprints: SprintServiceDep
) -> Response:
    """Delete a sprint; its issues go back to the backlog in the same transaction."""
    await sprints.delete(sprint_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/sprints/{sprint_id}/start",
    response_model=SprintRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        SprintNotFound,
        SprintStateConflict,
        SprintAlreadyActive,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def start_sprint(
    sprint_id: uuid.UUID, if_match: IfMatchDep, sprints: SprintServiceDep
) -> Response:
    """Start a planned sprint (one active sprint per project)."""
    return _tagged(await sprints.start(sprint_id, if_match))


@router.post(
    "/api/sprints/{sprint_id}/complete",
    response_model=SprintRead,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        SprintNotFound,
        SprintStateConflict,
        PreconditionFailed,
    ),
)
async def complete_sprint(
    sprint_id: uuid.UUID,
    if_match: IfMatchDep,
    sprints: SprintServiceDep,
    body: SprintComplete | None = None,
) -> Response:
    """Complete the active sprint; open issues go to the backlog or to another sprint."""
    move = (body or SprintComplete()).move_open_to
    return _tagged(await sprints.complete(sprint_id, move, if_match))


@router.get(
    "/api/sprints/{sprint_id}/stats",
    response_model=SprintStats,
    responses=errors(*IN_ORG, SprintNotFound, ValidationFailed),
)
async def sprint_stats(sprint_id: uuid.UUID, sprints: SprintServiceDep) -> SprintStats:
    """Counts and hours by status category, committed at start against now."""
    return await sprints.stats(await sprints.get(sprint_id))


@router.get(
    "/api/sprints/{sprint_id}/burndown",
    response_model=Burndown,
    responses=errors(*IN_ORG, SprintNotFound, ValidationFailed),
)
async def sprint_burndown(sprint_id: uuid.UUID, sprints: SprintServiceDep) -> Burndown:
    """One point per day: remaining hours and issues at the end of the day, and the ideal line."""
    return await sprints.burndown(await sprints.get(sprint_id))


@router.get(
    "/api/sprints/{sprint_id}/capacity",
    response_model=Capacity,
    responses=errors(*IN_ORG, SprintNotFound, ValidationFailed),
)
async def sprint_capacity(sprint_id: uuid.UUID, sprints: SprintServiceDep) -> Capacity:
    """Hours committed per assignee against their capacity over the sprint's working days."""
    return await sprints.capacity(await sprints.get(sprint_id))
