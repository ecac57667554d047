from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from projekt.core.context import Role
from projekt.core.deps import OrgDep, PrincipalDep
from projekt.core.openapi import errors
from projekt.orgs.dependencies import OrgServiceDep, SearchQuery
from projekt.orgs.schemas import (
    InvitationCreate,
    InvitationRead,
    Joined,
    JoinIn,
    MeOrgs,
    OrgCreate,
    OrgHit,
    OrgRead,
    OrgUpdate,
    PersonHit,
    RoleChange,
    TeamMember,
)

router = APIRouter(tags=["orgs"])

# Static paths first: /api/orgs/search must not be taken for /api/orgs/{org_id}.


@router.get("/api/orgs/search", response_model=list[OrgHit], responses=errors(401, 403, 422))
async def search_orgs(q: SearchQuery, principal: PrincipalDep, orgs: OrgServiceDep) -> list[OrgHit]:
    """Search the organizations you belong to (browser sessions only)."""
    return await orgs.search_my_orgs(principal, q)


@router.get(
    "/api/crossorg/orgs/search", response_model=list[OrgHit], responses=errors(401, 403, 422)
)
async def search_crossorg_orgs(
    q: SearchQuery, principal: PrincipalDep, orgs: OrgServiceDep
) -> list[OrgHit]:
    """Search discoverable organizations across the server, and your own (sessions only)."""
    return await orgs.search_crossorg(principal, q)


@router.post(
    "/api/orgs/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationRead,
    responses=errors(401, 403, 422),
)
async def create_invitation(
    body: InvitationCreate, ctx: OrgDep, orgs: OrgServiceDep, response: Response
) -> InvitationRead:
    """Invite someone with a single-use join code."""
    response.headers["Cache-Control"] = "no-store"
    return await orgs.invite(ctx, body)


@router.post("/api/orgs/join", response_model=Joined, responses=errors(401, 403, 404, 409, 422))
async def join_org(body: JoinIn, principal: PrincipalDep, orgs: OrgServiceDep) -> Joined:
    """Join an organization with an invitation code (browser sessions only)."""
    return await orgs.join(principal.user_id, body.code)


@router.get("/api/orgs", response_model=list[OrgRead], responses=errors(401))
async def list_orgs(principal: PrincipalDep, orgs: OrgServiceDep) -> list[OrgRead]:
    """Your organizations; an API key or OAuth token sees only its bound org."""
    return await orgs.list_orgs(principal)


@router.post(
    "/api/orgs",
    status_code=status.HTTP_201_CREATED,
    response_model=OrgRead,
    responses=errors(401, 403, 409, 422),
)
async def create_org(
    body: OrgCreate, principal: PrincipalDep, orgs: OrgServiceDep, response: Response
) -> OrgRead:
    """Create an organization; you become its owner (browser sessions only)."""
    org = await orgs.create_org(principal.user_id, body)
    response.headers["Location"] = f"/api/orgs/{org.id}"
    return org


@router.get("/api/orgs/{org_id}", response_model=OrgRead, responses=errors(401, 404))
async def get_org(org_id: uuid.UUID, ctx: OrgDep, orgs: OrgServiceDep) -> OrgRead:
    """One of your organizations."""
    return await orgs.get_org(ctx)


@router.patch(
    "/api/orgs/{org_id}", response_model=OrgRead, responses=errors(401, 403, 404, 409, 422)
)
async def update_org(
    org_id: uuid.UUID, body: OrgUpdate, ctx: OrgDep, orgs: OrgServiceDep
) -> OrgRead:
    """Rename an organization, change its slug or whether others can discover it."""
    return await orgs.update_org(ctx, body)


@router.delete(
    "/api/orgs/{org_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 403, 404)
)
async def delete_org(org_id: uuid.UUID, ctx: OrgDep, orgs: OrgServiceDep) -> Response:
    """Delete an organization and everything in it (owners only)."""
    await orgs.delete_org(ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/me/orgs", response_model=MeOrgs, responses=errors(401))
async def list_my_orgs(principal: PrincipalDep, orgs: OrgServiceDep) -> MeOrgs:
    """Your organizations with their projects; a token sees only its bound org."""
    return await orgs.me_orgs(principal)


@router.get("/api/team", response_model=list[TeamMember], responses=errors(401, 403))
async def list_team(ctx: OrgDep, orgs: OrgServiceDep) -> list[TeamMember]:
    """The organization's roster."""
    return await orgs.team(ctx)


@router.patch(
    "/api/team/{employee_id}", response_model=TeamMember, responses=errors(401, 403, 404, 409, 422)
)
async def change_member_role(
    employee_id: uuid.UUID, body: RoleChange, ctx: OrgDep, orgs: OrgServiceDep
) -> TeamMember:
    """Change a member's role (admins up to admin; owners for ownership)."""
    return await orgs.change_role(ctx, employee_id, Role(body.role))


@router.delete(
    "/api/team/{employee_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 409),
)
async def remove_member(employee_id: uuid.UUID, ctx: OrgDep, orgs: OrgServiceDep) -> Response:
    """Remove someone from the organization."""
    await orgs.remove_member(ctx, employee_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/people/search", response_model=list[PersonHit], responses=errors(401, 403, 422))
async def search_people(q: SearchQuery, ctx: OrgDep, orgs: OrgServiceDep) -> list[PersonHit]:
    """Find people of the organization by name, username or email."""
    return await orgs.search_people(ctx, q)
