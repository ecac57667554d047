from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from projekt.api_keys.errors import ApiKeyNotFound, KeyLimitReached
from projekt.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from projekt.api_keys.service import ApiKeyService, api_key_etag
from projekt.core.conditional import IfMatchDep
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.errors import InsufficientRole, PreconditionFailed, ValidationFailed
from projekt.core.openapi import BODY, IN_ORG, NO_TOKENS, PAGED, ROLE, SESSION_WRITE, errors
from projekt.core.pagination import ListQuery, list_params

router = APIRouter(tags=["api-keys"])


async def get_api_key_service(session: SessionDep, services: ServicesDep) -> ApiKeyService:
    return ApiKeyService(session, services)


ApiKeyServiceDep = Annotated[ApiKeyService, Depends(get_api_key_service)]
KeyList = Annotated[
    ListQuery,
    Depends(list_params("name", "created_at", "expires_at", "last_used_at", default="-created_at")),
]


@router.post(
    "/api/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(*IN_ORG, *ROLE, *NO_TOKENS, *SESSION_WRITE, *BODY, KeyLimitReached),
)
async def mint_api_key(
    body: ApiKeyCreate, ctx: OrgDep, keys: ApiKeyServiceDep, response: Response
) -> ApiKeyCreated:
    """Mint a personal access token bound to this org; the token is in this response only."""
    created = await keys.mint(ctx, body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/api/api-keys/{created.id}"
    return created


@router.get(
    "/api/api-keys",
    response_model=list[ApiKeyRead],
    responses=errors(*IN_ORG, *PAGED, ValidationFailed, InsufficientRole),
)
async def list_api_keys(
    ctx: OrgDep,
    keys: ApiKeyServiceDep,
    listed: KeyList,
    all: Annotated[bool, Query(description="Admins: everyone's keys in the org.")] = False,
) -> Response:
    """Your active keys in this org (never the token or its hash)."""
    return listed.respond(*listed.page_of(await keys.listing(ctx, all)))


@router.get(
    "/api/api-keys/{key_id}",
    response_model=ApiKeyRead,
    responses=errors(*IN_ORG, ApiKeyNotFound, ValidationFailed),
)
async def get_api_key(key_id: uuid.UUID, ctx: OrgDep, keys: ApiKeyServiceDep) -> Response:
    """One active key (never the token or its hash): yours, or anyone's in the org for admins."""
    key = await keys.get(ctx, key_id)
    body = key.model_dump_json().encode()
    return Response(body, headers={"ETag": api_key_etag(key.id)}, media_type="application/json")


@router.delete(
    "/api/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(
        *IN_ORG, *NO_TOKENS, *SESSION_WRITE, ApiKeyNotFound, PreconditionFailed, ValidationFailed
    ),
)
async def revoke_api_key(
    key_id: uuid.UUID, if_match: IfMatchDep, ctx: OrgDep, keys: ApiKeyServiceDep
) -> Response:
    """Revoke a key; the next request with it answers 401."""
    await keys.revoke(ctx, key_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
