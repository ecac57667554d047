from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from projekt.core.conditional import IfMatchDep
from projekt.core.context import Role
from projekt.core.deps import ActorDep, OrgDep, PrincipalDep
from projekt.core.errors import PreconditionFailed, ValidationFailed
from projekt.core.openapi import (
    BODY,
    IN_ORG,
    NO_TOKENS,
    PAGED,
    ROLE,
    SESSION_WRITE,
    SIGNED_IN,
    errors,
)
from projekt.core.pagination import ListQuery, list_params
from projekt.orgs.dependencies import OrgServiceDep, SearchQuery
from projekt.orgs.errors import (
    AlreadyMember,
    InvalidInvitation,
    InvitationNotFound,
    InvitationUsed,
    LastOwner,
    MemberNotFound,
    OrgNotFound,
    RoleNotGrantable,
    SlugTaken,
)
from projekt.orgs.schemas import (
    InvitationCreate,
    InvitationInfo,
    InvitationRead,
    InvitationStatus,
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

OrgList = Annotated[ListQuery, Depends(list_params("name", "slug", default="name"))]
MeOrgList = Annotated[ListQuery, Depends(list_params("org_name", "org_slug", default="org_name"))]
TeamList = Annotated[
    ListQuery, Depends(list_params("name", "email", "role", "joined_at", default="joined_at"))
]
InvitationList = Annotated[
    ListQuery,
    Depends(list_params("created_at", "expires_at", "email", "role", default="-created_at")),
]
# Search hits come best match first (the service's order), so sort is offered on the name only.
PeopleList = Annotated[ListQuery, Depends(list_params("name", "email", default="name"))]


def _json(model: Any, etag: str, status_code: int = 200) -> Response:
    body = model.model_dump_json().encode()
    return Response(body, status_code, {"ETag": etag}, media_type="application/json")


# Static paths first: /api/orgs/search must not be taken for /api/orgs/{org_id}.


@router.get(
    "/api/orgs/search",
    response_model=list[OrgHit],
    responses=errors(*SIGNED_IN, *NO_TOKENS, *PAGED, ValidationFailed),
)
async def search_orgs(
    q: SearchQuery, listed: OrgList, principal: PrincipalDep, orgs: OrgServiceDep
) -> Response:
    """Search the organizations you belong to (browser sessions only)."""
    return listed.respond(*listed.page_of(await orgs.search_my_orgs(principal, q)))


@router.get(
    "/api/crossorg/orgs/search",
    response_model=list[OrgHit],
    responses=errors(*SIGNED_IN, *NO_TOKENS, *PAGED, ValidationFailed),
)
async def search_crossorg_orgs(
    q: SearchQuery, listed: OrgList, principal: PrincipalDep, orgs: OrgServiceDep
) -> Response:
    """Search discoverable organizations across the server, and your own (sessions only)."""
    return listed.respond(*listed.page_of(await orgs.search_crossorg(principal, q)))


@router.post(
    "/api/orgs/invitations",
    status_code=status.HTTP_201_CREATED,
    response_model=InvitationRead,
    responses=errors(*IN_ORG, *ROLE, *SESSION_WRITE, *BODY, RoleNotGrantable),
)
async def create_invitation(
    body: InvitationCreate, ctx: OrgDep, orgs: OrgServiceDep, response: Response
) -> InvitationRead:
    """Invite someone with a single-use join code."""
    response.headers["Cache-Control"] = "no-store"
    invitation = await orgs.invite(ctx, body)
    response.headers["Location"] = f"/api/orgs/invitations/{invitation.id}"
    return invitation


@router.get(
    "/api/orgs/invitations",
    response_model=list[InvitationInfo],
    responses=errors(*IN_ORG, *ROLE, *PAGED, ValidationFailed),
)
async def list_invitations(
    ctx: OrgDep,
    listed: InvitationList,
    orgs: OrgServiceDep,
    state: Annotated[
        InvitationStatus | None,
        Query(alias="status", description="Only invitations in this state."),
    ] = None,
) -> Response:
    """The organization's invitations, newest first (never their codes)."""
    return listed.respond(*listed.page_of(await orgs.invitations(ctx, state)))


@router.get(
    "/api/orgs/invitations/{invitation_id}",
    response_model=InvitationInfo,
    responses=errors(*IN_ORG, *ROLE, InvitationNotFound, ValidationFailed),
)
async def get_invitation(invitation_id: uuid.UUID, ctx: OrgDep, orgs: OrgServiceDep) -> Response:
    """An invitation of the organization: who, which role, until when, used or not."""
    invitation = await orgs.invitation(ctx, invitation_id)
    return _json(invitation, invitation.etag)


@router.delete(
    "/api/orgs/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        InvitationNotFound,
        InvitationUsed,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def revoke_invitation(
    invitation_id: uuid.UUID, if_match: IfMatchDep, ctx: OrgDep, orgs: OrgServiceDep
) -> Response:
    """Revoke an unused invitation; its code stops working at once."""
    await orgs.revoke_invitation(ctx, invitation_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/orgs/join",
    response_model=Joined,
    responses=errors(
        *SIGNED_IN, *NO_TOKENS, *SESSION_WRITE, *BODY, InvalidInvitation, AlreadyMember
    ),
)
async def join_org(
    body: JoinIn, principal: PrincipalDep, actor: ActorDep, orgs: OrgServiceDep
) -> Joined:
    """Join an organization with an invitation code (browser sessions only)."""
    return await orgs.join(principal.user_id, body.code, actor)


@router.get("/api/orgs", response_model=list[OrgRead], responses=errors(*SIGNED_IN, *PAGED))
async def list_orgs(principal: PrincipalDep, listed: OrgList, orgs: OrgServiceDep) -> Response:
    """Your organizations; an API key or OAuth token sees only its bound org."""
    return listed.respond(*listed.page_of(await orgs.list_orgs(principal)))


@router.post(
    "/api/orgs",
    status_code=status.HTTP_201_CREATED,
    response_model=OrgRead,
    responses=errors(*SIGNED_IN, *NO_TOKENS, *SESSION_WRITE, *BODY, SlugTaken),
)
async def create_org(
    body: OrgCreate,
    principal: PrincipalDep,
    actor: ActorDep,
    orgs: OrgServiceDep,
    response: Response,
) -> OrgRead:
    """Create an organization; you become its owner (browser sessions only)."""
    org = await orgs.create_org(principal.user_id, body, actor)
    response.headers["Location"] = f"/api/orgs/{org.id}"
    return org


@router.get(
    "/api/orgs/{org_id}",
    response_model=OrgRead,
    responses=errors(*SIGNED_IN, OrgNotFound, ValidationFailed),
)
async def get_org(org_id: uuid.UUID, ctx: OrgDep, orgs: OrgServiceDep) -> Response:
    """One of your organizations."""
    return _json(*await orgs.get_org_tagged(ctx))


@router.patch(
    "/api/orgs/{org_id}",
    response_model=OrgRead,
    responses=errors(
        *SIGNED_IN, *ROLE, *SESSION_WRITE, *BODY, OrgNotFound, SlugTaken, PreconditionFailed
    ),
)
async def update_org(
    org_id: uuid.UUID, body: OrgUpdate, if_match: IfMatchDep, ctx: OrgDep, orgs: OrgServiceDep
) -> Response:
    """Rename an organization, change its slug or whether others can discover it."""
    return _json(*await orgs.update_org(ctx, body, if_match))


@router.delete(
    "/api/orgs/{org_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *SIGNED_IN, *ROLE, *SESSION_WRITE, OrgNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def delete_org(
    org_id: uuid.UUID, if_match: IfMatchDep, ctx: OrgDep, orgs: OrgServiceDep
) -> Response:
    """Delete an organization and everything in it (owners only)."""
    await orgs.delete_org(ctx, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api/me/orgs", response_model=MeOrgs, responses=errors(*SIGNED_IN, *PAGED))
async def list_my_orgs(principal: PrincipalDep, listed: MeOrgList, orgs: OrgServiceDep) -> Response:
    """Your organizations with their projects; a token sees only its bound org.

    Without paging parameters: `{orgs, count}` (API.md §4); with them: `{data, meta}`.
    """
    page, total = listed.page_of((await orgs.me_orgs(principal)).orgs)
    return listed.respond(page, total, plain=lambda rows, n: {"orgs": rows, "count": n})


@router.get("/api/team", response_model=list[TeamMember], responses=errors(*IN_ORG, *PAGED))
async def list_team(ctx: OrgDep, listed: TeamList, orgs: OrgServiceDep) -> Response:
    """The organization's roster; each member carries the ETag its update sends as If-Match."""
    return listed.respond(*listed.page_of(await orgs.team(ctx)))


@router.patch(
    "/api/team/{employee_id}",
    response_model=TeamMember,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        *BODY,
        MemberNotFound,
        LastOwner,
        RoleNotGrantable,
        PreconditionFailed,
    ),
)
async def change_member_role(
    employee_id: uuid.UUID,
    body: RoleChange,
    if_match: IfMatchDep,
    ctx: OrgDep,
    orgs: OrgServiceDep,
) -> Response:
    """Change a member's role (admins up to admin; owners for ownership)."""
    member = await orgs.change_role(ctx, employee_id, Role(body.role), if_match)
    return _json(member, member.etag)


@router.delete(
    "/api/team/{employee_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG,
        *ROLE,
        *SESSION_WRITE,
        MemberNotFound,
        LastOwner,
        RoleNotGrantable,
        PreconditionFailed,
        ValidationFailed,
    ),
)
async def remove_member(
    employee_id: uuid.UUID, if_match: IfMatchDep, ctx: OrgDep, orgs: OrgServiceDep
) -> Response:
    """Remove someone from the organization."""
    await orgs.remove_member(ctx, employee_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/people/search",
    response_model=list[PersonHit],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed),
)
async def search_people(
    q: SearchQuery, listed: PeopleList, ctx: OrgDep, orgs: OrgServiceDep
) -> Response:
    """Find people of the organization by name, username or email."""
    return listed.respond(*listed.page_of(await orgs.search_people(ctx, q)))
