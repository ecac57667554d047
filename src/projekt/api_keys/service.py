"""Personal access tokens: minted once, stored as a digest, revoked instantly."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from projekt.api_keys.errors import ApiKeyNotFound, KeyLimitReached, expiry_in_past
from projekt.api_keys.models import ApiKey
from projekt.api_keys.repository import ApiKeyRepository
from projekt.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from projekt.core.conditional import IfMatch, version_etag
from projekt.core.context import OrgContext, Role
from projekt.core.deps import AppServices
from projekt.core.errors import InsufficientRole
from projekt.core.record import SYSTEM, Actor, changes, record
from projekt.core.repository import lock_row
from projekt.core.security import digest, new_pat
from projekt.orgs.models import Membership


def api_key_etag(key_id: uuid.UUID) -> str:
    """A key's validator: nothing of a key that the API shows changes while it is active."""
    return version_etag("api_key", key_id)


class ApiKeyService:
    def __init__(self, session: AsyncSession, services: AppServices) -> None:
        self.session = session
        self.services = services

    async def mint(self, ctx: OrgContext, data: ApiKeyCreate) -> ApiKeyCreated:
        return await self.mint_for(ctx.org_id, ctx.user_id, ctx.membership_id, data, ctx)

    async def mint_for(
        self,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        membership_id: uuid.UUID,
        data: ApiKeyCreate,
        by: OrgContext | None = None,
    ) -> ApiKeyCreated:
        """A new key; ``by``: the request that mints it (else the server: the cli)."""
        now = self.services.clock.now()
        if data.expires_at is not None and data.expires_at <= now:
            raise expiry_in_past()
        keys = ApiKeyRepository(self.session, org_id)
        # Concurrent mints by one person queue on their membership row, so the count is exact.
        await lock_row(self.session, Membership, membership_id)
        if (
            await keys.count_active(user_id, now)
            >= self.services.settings.max_active_keys_per_user_org
        ):
            raise KeyLimitReached()
        token = new_pat()
        key = await keys.add(
            ApiKey(
                id=uuid.uuid4(),
                org_id=org_id,
                user_id=user_id,
                name=data.name,
                token_hash=digest(token),
                last_four=token[-4:],
                created_at=now,
                expires_at=data.expires_at,
                revoked_at=None,
                last_used_at=None,
            )
        )
        # Its name and last four, never the token (nor its digest).
        minted = {"name": key.name, "user_id": key.user_id, "last_four": key.last_four,
                  "expires_at": key.expires_at}  # fmt: skip
        actor = by or (org_id, Actor(user_id, SYSTEM.credential_kind))
        record(self.session, actor, "api_key.created", key.id, changes=changes(None, minted))
        return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), token=token)

    async def listing(self, ctx: OrgContext, everyone: bool) -> list[ApiKeyRead]:
        if everyone and not ctx.role.at_least(Role.ADMIN):
            raise InsufficientRole("Only admins and owners may list everyone's keys.")
        keys = await ApiKeyRepository(self.session, ctx.org_id).listing(
            None if everyone else ctx.user_id
        )
        return [ApiKeyRead.model_validate(key) for key in keys]

    async def get(self, ctx: OrgContext, key_id: uuid.UUID) -> ApiKeyRead:
        return ApiKeyRead.model_validate(await self._visible(ctx, key_id))

    async def _visible(self, ctx: OrgContext, key_id: uuid.UUID, lock: bool = False) -> ApiKey:
        """An active key the caller may see (as listing does: their own; admins: anyone's)."""
        keys = ApiKeyRepository(self.session, ctx.org_id)
        key = await (keys.get_for_update(key_id) if lock else keys.get(key_id))
        if key is None or key.revoked_at is not None:
            raise ApiKeyNotFound()
        if key.user_id != ctx.user_id and not ctx.role.at_least(Role.ADMIN):
            # Someone else's key in the same org: not theirs to see, so it does not exist for them.
            raise ApiKeyNotFound()
        return key

    async def revoke(
        self, ctx: OrgContext, key_id: uuid.UUID, if_match: IfMatch | None = None
    ) -> None:
        """``if_match`` is None only for the web page's revoke form, which has no ETag to send."""
        # Locked, so two revocations (one with a stale tag) cannot both pass their checks.
        key = await self._visible(ctx, key_id, lock=True)
        (if_match or IfMatch()).check(api_key_etag(key.id))
        key.revoked_at = self.services.clock.now()
        await self.session.flush()
        record(self.session, ctx, "api_key.revoked", key.id,
               changes={"revoked_at": [None, key.revoked_at.isoformat()]})  # fmt: skip
