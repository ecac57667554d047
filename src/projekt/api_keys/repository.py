from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_

from projekt.api_keys.models import ApiKey
from projekt.core.repository import OrgScopedRepository


class ApiKeyRepository(OrgScopedRepository[ApiKey]):
    model = ApiKey

    def _active(self, now: datetime):  # type: ignore[no-untyped-def]
        return (
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
        )

    async def count_active(self, user_id: uuid.UUID, now: datetime) -> int:
        stmt = self.select(func.count()).where(ApiKey.user_id == user_id, *self._active(now))
        return int((await self.session.execute(stmt)).scalar_one())

    async def listing(self, user_id: uuid.UUID | None) -> list[ApiKey]:
        stmt = self.select().where(ApiKey.revoked_at.is_(None))
        if user_id is not None:
            stmt = stmt.where(ApiKey.user_id == user_id)
        stmt = stmt.order_by(ApiKey.created_at.desc(), ApiKey.id)
        return list((await self.session.execute(stmt)).scalars())
