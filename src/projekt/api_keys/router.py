from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from projekt.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from projekt.api_keys.service import ApiKeyService
from projekt.core.deps import OrgDep, ServicesDep, SessionDep
from projekt.core.openapi import errors

router = APIRouter(tags=["api-keys"])


async def get_api_key_service(session: SessionDep, services: ServicesDep) -> ApiKeyService:
    return ApiKeyService(session, services)


ApiKeyServiceDep = Annotated[ApiKeyService, Depends(get_api_key_service)]


@router.post(
    "/api/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    responses=errors(401, 403, 409, 422),
)
async def mint_api_key(
    body: ApiKeyCreate, ctx: OrgDep, keys: ApiKeyServiceDep, response: Response
) -> ApiKeyCreated:
    """Mint a personal access token bound to this org; the token is in this response only."""
    created = await keys.mint(ctx, body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Location"] = f"/api/api-keys/{created.id}"
    return created


@router.get("/api/api-keys", response_model=list[ApiKeyRead], responses=errors(401, 403))
async def list_api_keys(
    ctx: OrgDep,
    keys: ApiKeyServiceDep,
    all: Annotated[bool, Query(description="Admins: everyone's keys in the org.")] = False,
) -> list[ApiKeyRead]:
    """Your active keys in this org (never the token or its hash)."""
    return await keys.listing(ctx, all)


@router.delete(
    "/api/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404),
)
async def revoke_api_key(key_id: uuid.UUID, ctx: OrgDep, keys: ApiKeyServiceDep) -> Response:
    """Revoke a key; the next request with it answers 401."""
    await keys.revoke(ctx, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
